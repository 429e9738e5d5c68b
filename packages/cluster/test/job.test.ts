import { encode, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { ConfigSchema } from "@openclaw/config";
import { createLogger } from "@openclaw/log";
import { type AttemptRecord, envelope, type TaskEvent, type TaskRecord } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, taskRecord, taskSpec, uniquePrefix } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Job, OpenClawCluster, TaskFailedError, WaitTimeoutError } from "../src/index.js";

/**
 * No scheduler runs here: the test writes the task records itself and never publishes a task
 * event, so `job.wait` can only learn how a task ended from its record in the `tasks` bucket.
 */

const NOW = () => new Date().toISOString();

function attempt(n: number, status: AttemptRecord["status"], error: AttemptRecord["error"] = null) {
  return {
    attempt: n,
    node_id: "w1",
    scheduled_at: NOW(),
    started_at: NOW(),
    ended_at: status === "running" ? null : NOW(),
    status,
    error,
  } satisfies AttemptRecord;
}

async function service(url: string, prefix: string): Promise<ServiceContext> {
  const config = ConfigSchema.parse({
    cluster: { subject_prefix: prefix },
    communication: { nats_url: url },
  });
  const log = createLogger({ service: "scheduler", instance: "test", level: "silent" });
  return startServiceContext({ config, service: "scheduler", instance: "test", log });
}

let seq = 0;
function newId(): string {
  seq += 1;
  return `job-${process.pid}-${seq}`;
}

async function put(ctx: ServiceContext, id: string, change: Partial<TaskRecord>): Promise<void> {
  const rec = taskRecord(taskSpec({ task_id: id }), { submitted_at: NOW(), ...change });
  await ctx.cluster.kv.tasks.put(id, encode(rec));
}

const running: Partial<TaskRecord> = {
  status: "running",
  attempt: 1,
  assigned_node: "w1",
  attempts: [attempt(1, "running")],
};

describe("job.wait follows the task record, not events", () => {
  let nats: NatsServer;
  let ctx: ServiceContext;
  let sdk: OpenClawCluster;

  beforeAll(async () => {
    nats = await startNatsServer();
    const prefix = uniquePrefix();
    ctx = await service(nats.url, prefix);
    sdk = new OpenClawCluster({ natsUrl: nats.url, prefix });
  });

  afterAll(async () => {
    await sdk?.close();
    await ctx?.close();
    await nats?.stop();
  });

  const job = async (id: string) => new Job(await sdk.connection(), id);

  it("resolves when the record turns completed, with no event ever published", async () => {
    const id = newId();
    await put(ctx, id, running);
    const j = await job(id);
    const waiting = j.wait({ timeout: "15s" });
    await new Promise((r) => setTimeout(r, 200));
    expect(j.status).toBe("running");
    await put(ctx, id, {
      status: "completed",
      attempt: 1,
      assigned_node: "w1",
      attempts: [attempt(1, "completed")],
      result: { answer: 42 },
    });
    const r = await waiting;
    expect(r).toMatchObject({ taskId: id, status: "completed", data: { answer: 42 }, nodeId: "w1" });
    expect(j.status).toBe("completed");
    expect(j.data).toEqual({ answer: 42 });
  });

  it("resolves at once for a task that completed before wait was called", async () => {
    const id = newId();
    await put(ctx, id, { status: "completed", attempts: [attempt(1, "completed")], result: "done" });
    expect((await (await job(id)).wait({ timeout: "10s" })).data).toBe("done");
  });

  it("waits for a record that does not exist yet (the scheduler has not stored the task)", async () => {
    const id = newId();
    const waiting = (await job(id)).wait({ timeout: "15s" });
    await new Promise((r) => setTimeout(r, 200));
    await put(ctx, id, running);
    await put(ctx, id, { status: "completed", attempts: [attempt(1, "completed")], result: 7 });
    expect((await waiting).data).toBe(7);
  });

  it("rejects with TaskFailedError when the record ends failed, timed out or cancelled", async () => {
    for (const [status, code] of [
      ["failed", "OC-6001"],
      ["timeout", "OC-6004"],
      ["cancelled", "OC-6005"],
    ] as const) {
      const id = newId();
      const waiting = (await job(id)).wait({ timeout: "15s" }).catch((e: unknown) => e);
      await put(ctx, id, running);
      await put(ctx, id, {
        status,
        attempts: [attempt(1, status === "timeout" ? "timeout" : "failed")],
        error: { code, message: "no", retryable: false },
      });
      const err = await waiting;
      expect(err).toBeInstanceOf(TaskFailedError);
      expect(err).toMatchObject({ taskId: id, status, code });
    }
  });

  it("with failover (default) waits through a failed attempt; without it, rejects at once", async () => {
    const id = newId();
    await put(ctx, id, running);
    const through = (await job(id)).wait({ timeout: "15s" });
    const early = (await job(id)).wait({ failover: false, timeout: "15s" }).catch((e: unknown) => e);
    const error = { code: "OC-6001", message: "disk on fire", retryable: true };
    await put(ctx, id, { status: "pending", attempt: 1, attempts: [attempt(1, "failed", error)], error });
    const err = await early;
    expect(err).toBeInstanceOf(TaskFailedError);
    expect(err).toMatchObject({ status: "failed", code: "OC-6001" });
    await put(ctx, id, {
      status: "completed",
      attempt: 2,
      attempts: [attempt(1, "failed", error), attempt(2, "completed")],
      result: "second time",
    });
    expect((await through).data).toBe("second time");
  });

  it("without failover, a lost attempt (its node stopped) is not a failure", async () => {
    const id = newId();
    await put(ctx, id, running);
    const waiting = (await job(id)).wait({ failover: false, timeout: "15s" });
    const lost = attempt(1, "lost", { code: "OC-6009", message: "worker stopping", retryable: true });
    await put(ctx, id, { status: "pending", attempt: 1, retry_base: 1, attempts: [lost] });
    await new Promise((r) => setTimeout(r, 300));
    await put(ctx, id, {
      status: "completed",
      attempt: 2,
      retry_base: 1,
      attempts: [lost, attempt(2, "completed")],
      result: "moved",
    });
    expect((await waiting).data).toBe("moved");
  });

  it("rejects with WaitTimeoutError when the timeout runs out; the task goes on", async () => {
    const id = newId();
    await put(ctx, id, running);
    const err = await (await job(id)).wait({ timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
  });

  it("still reports progress from events", async () => {
    const id = newId();
    await put(ctx, id, running);
    const j = await job(id);
    const seen: number[] = [];
    j.onProgress((p) => seen.push(p.percent));
    await new Promise((r) => setTimeout(r, 100));
    const { cluster, sender } = ctx;
    const event: TaskEvent = {
      ...envelope(sender),
      kind: "progress",
      task_id: id,
      attempt: 1,
      node_id: "w1",
      percent: 40,
      message: "",
    };
    await cluster.js.publish(cluster.names.subjects.taskEvent(id, "progress"), encode(event));
    await expect.poll(() => seen).toEqual([40]);
    await put(ctx, id, { status: "completed", attempts: [attempt(1, "completed")], result: 1 });
    expect((await j.wait()).data).toBe(1);
  });
});

describe("job.wait across a lost connection", () => {
  it("resolves when the task completed while the client was disconnected (no event)", async () => {
    let nats = await startNatsServer();
    const prefix = uniquePrefix();
    let ctx = await service(nats.url, prefix);
    const sdk = new OpenClawCluster({ natsUrl: nats.url, prefix });
    try {
      const id = newId();
      await put(ctx, id, running);
      const j = new Job(await sdk.connection(), id);
      const waiting = j.wait({ timeout: "30s" });
      await new Promise((r) => setTimeout(r, 300));
      await ctx.close();
      // The server goes away with the client's connection; it completes the task on its return,
      // before (or as) the client reconnects, and publishes no event.
      nats = await nats.restart();
      ctx = await service(nats.url, prefix);
      await put(ctx, id, { status: "completed", attempts: [attempt(1, "completed")], result: "while away" });
      expect((await waiting).data).toBe("while away");
    } finally {
      await sdk.close();
      await ctx.close();
      await nats.stop();
    }
  });

  it("rejects, not hangs, when the client is closed while waiting", async () => {
    const nats = await startNatsServer();
    const prefix = uniquePrefix();
    const ctx = await service(nats.url, prefix);
    const sdk = new OpenClawCluster({ natsUrl: nats.url, prefix });
    try {
      const id = newId();
      await put(ctx, id, running);
      const waiting = new Job(await sdk.connection(), id).wait().catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      await sdk.close();
      expect(await waiting).toMatchObject({ code: "OC-2001" });
    } finally {
      await ctx.close();
      await nats.stop();
    }
  });
});
