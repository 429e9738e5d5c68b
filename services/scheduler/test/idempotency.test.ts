import { awaitIdempotentTask, encode, type ServiceContext } from "@openclaw/bus";
import { OpenClawCluster } from "@openclaw/cluster";
import { envelope, type TaskSpec, type TaskSubmitBatch } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spec } from "./fixtures.js";
import { leadingScheduler, submit, ticks } from "./harness.js";

let server: NatsServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()?.();
});
afterAll(async () => {
  await server?.stop();
});

/** Task ids with a record in the tasks bucket. */
async function recorded(ctx: ServiceContext, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) if ((await ctx.cluster.kv.tasks.get(id))?.operation === "PUT") out.push(id);
  return out;
}

/** Every inbox message handled (nothing waiting, nothing in hand), then one more tick. */
async function inboxHandled(ctx: ServiceContext): Promise<void> {
  const { jsm, names } = ctx.cluster;
  await waitFor(async () => {
    const info = await jsm.consumers.info(names.streams.sched, names.consumers.scheduler);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
  await ticks(ctx, 1);
}

describe("idempotency keys", () => {
  // The reproduction: two concurrent submissions with one key ran two tasks (the key was only
  // checked against the coordinator's read model, which sees neither until the scheduler acts,
  // and not at all with a task_id of one's own).
  it("makes one task of concurrent submissions with one key and different task ids; each submitter learns it", async () => {
    const { ctx, events, node } = await leadingScheduler(server, cleanup);
    const worker = await node("n1", { capacity: 4 });
    const key = "order-42";
    const singles = Array.from({ length: 6 }, () => spec({ idempotency_key: key }));
    const batched = Array.from({ length: 4 }, () => spec({ idempotency_key: key }));
    const batch: TaskSubmitBatch = {
      ...envelope(ctx.sender),
      submissions: batched.map((task) => ({
        ...envelope(ctx.sender),
        task,
        submitted_at: new Date().toISOString(),
      })),
    };
    await Promise.all([
      ...singles.map((t) => submit(ctx, t)),
      ctx.cluster.js.publish(ctx.cluster.names.subjects.schedSubmitBatch, encode(batch), {
        msgID: `batch-${batch.id}`,
      }),
    ]);
    const ids = [...singles, ...batched].map((t) => t.task_id);
    const learnt = await Promise.all(ids.map((id) => awaitIdempotentTask(ctx.cluster, key, id, 10_000)));
    const winner = learnt[0] as string;
    expect(ids).toContain(winner);
    expect(new Set(learnt)).toEqual(new Set([winner]));
    await waitFor(() => events.find((e) => e.task_id === winner && e.kind === "completed"));
    await inboxHandled(ctx);
    expect(await recorded(ctx, ids)).toEqual([winner]);
    expect(worker.taken.map((d) => d.task.task_id)).toEqual([winner]);
    expect(new Set(events.map((e) => e.task_id))).toEqual(new Set([winner]));
  });

  it("makes one task of the same key submitted twice at once from the SDK, and both jobs are that task", async () => {
    const { ctx, node } = await leadingScheduler(server, cleanup);
    const worker = await node("n1", { capacity: 4 });
    const sdk = new OpenClawCluster({ natsUrl: server.url, prefix: ctx.cluster.names.prefix });
    cleanup.push(() => sdk.close());
    const [a, b] = await Promise.all([
      sdk.submitTask({ id: "sdk-a", type: "echo", payload: "a", idempotencyKey: "sdk-key" }),
      sdk.submitTask({ id: "sdk-b", type: "echo", payload: "b", idempotencyKey: "sdk-key" }),
    ]);
    expect(["sdk-a", "sdk-b"]).toContain(a?.id);
    expect(b?.id).toBe(a?.id);
    const [ra, rb] = await Promise.all([a?.wait(), b?.wait()]);
    expect(rb?.data).toEqual(ra?.data);
    // Without ids of their own (ids derived from the key): one task too.
    const [c, d] = await Promise.all([
      sdk.submitTask({ type: "echo", idempotencyKey: "sdk-key-2" }),
      sdk.submitTask({ type: "echo", idempotencyKey: "sdk-key-2" }),
    ]);
    expect(d?.id).toBe(c?.id);
    await c?.wait();
    await inboxHandled(ctx);
    expect(worker.taken.map((t) => t.task.task_id).sort()).toEqual([a?.id, c?.id].sort());
  });

  it("remembers a key as long as its task's record exists: after the task finished too, not after the record is gone", async () => {
    const { ctx, events, node } = await leadingScheduler(server, cleanup);
    const worker = await node("n1");
    const key = "nightly-report";
    const first: TaskSpec = spec({ idempotency_key: key });
    await submit(ctx, first);
    await waitFor(() => events.find((e) => e.task_id === first.task_id && e.kind === "completed"));
    // Finished: the key still gives the first task, nothing runs again.
    const again = spec({ idempotency_key: key });
    await submit(ctx, again);
    expect(await awaitIdempotentTask(ctx.cluster, key, again.task_id, 10_000)).toBe(first.task_id);
    await inboxHandled(ctx);
    expect(await recorded(ctx, [first.task_id, again.task_id])).toEqual([first.task_id]);
    expect(worker.taken).toHaveLength(1);
    // Once the first task's record is removed, its key is free: the next submission makes a task.
    await ctx.cluster.kv.tasks.delete(first.task_id);
    const later = spec({ idempotency_key: key });
    await submit(ctx, later);
    expect(await awaitIdempotentTask(ctx.cluster, key, later.task_id, 10_000)).toBe(later.task_id);
    await waitFor(() => events.find((e) => e.task_id === later.task_id && e.kind === "completed"));
    expect(worker.taken.map((d) => d.task.task_id)).toEqual([first.task_id, later.task_id]);
  });
});
