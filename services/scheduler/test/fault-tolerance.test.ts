import { decode, encode, type ServiceContext } from "@openclaw/bus";
import { BreakerRecord, type NodeRecord, TaskRecord, type TaskSpec } from "@openclaw/protocol";
import { type NatsServer, nodeRecord, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spec } from "./fixtures.js";
import { context, leadingScheduler, type Outcome, submit, ticks } from "./harness.js";

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

async function setup(config: Parameters<typeof context>[1] = {}, prefix?: string) {
  const { ctx, events, scheduler, node } = await leadingScheduler(server, cleanup, config, prefix);
  const eventOf = (id: string, kind: string) =>
    waitFor(() => events.find((e) => e.task_id === id && e.kind === kind), {
      timeout: 15_000,
      message: `no ${kind} event for ${id}`,
    });
  return { ctx, events, scheduler, node, eventOf };
}

const once = (t: TaskSpec = spec()): TaskSpec => ({ ...t, retry: { ...t.retry, max_attempts: 1 } });

async function breaker(ctx: ServiceContext, nodeId: string): Promise<BreakerRecord | undefined> {
  const e = await ctx.cluster.kv.scheduler.get(`breaker.${nodeId}`);
  const d = e?.operation === "PUT" ? decode(BreakerRecord, e.value) : undefined;
  return d?.ok ? d.value : undefined;
}

/** Rewrites a sim node's record as the registry would after one more heartbeat. */
async function heartbeat(ctx: ServiceContext, id: string, patch: Partial<NodeRecord>, seq: number) {
  const current = await ctx.cluster.kv.nodes.get(id);
  const rec = JSON.parse(new TextDecoder().decode(current?.value)) as NodeRecord;
  await ctx.cluster.kv.nodes.put(
    id,
    encode({ ...rec, ...patch, heartbeat_seq: seq, last_heartbeat: new Date().toISOString() }),
  );
}

describe("circuit breaker", () => {
  const settings = {
    scheduler: {
      breaker_failure_threshold: 2,
      breaker_recovery_timeout: "600ms",
      breaker_half_open_requests: 1,
    },
  };

  it("opens after failures in a row, keeps work off the node, lets a trial through after the recovery timeout, and closes on its success", async () => {
    const { ctx, node, eventOf } = await setup(settings);
    let healthy = false;
    // A node-caused failure (docs/reliability.md): it announces echo but no longer has it.
    const fail: Outcome = { error: { code: "OC-6006", message: "boom", retryable: true } };
    const flaky = await node("flaky", { run: async (d) => (healthy ? { result: d.task.payload } : fail) });
    const [a, b] = [once(), once()];
    await submit(ctx, a);
    await eventOf(a.task_id, "failed");
    expect(await breaker(ctx, "flaky")).toBeUndefined(); // one failure: still closed, nothing stored
    await submit(ctx, b);
    await eventOf(b.task_id, "failed");
    const open = await waitFor(async () => {
      const r = await breaker(ctx, "flaky");
      return r?.state === "open" ? r : undefined;
    });
    expect(open).toMatchObject({ failures: 2, last_error: "OC-6006: boom", trial_successes: 0 });
    expect(Date.parse(open.retry_at ?? "") - Date.parse(open.opened_at ?? "")).toBe(600);

    // While open the node gets nothing, and the task says why.
    healthy = true;
    const c = once();
    await submit(ctx, c);
    const waiting = await eventOf(c.task_id, "waiting");
    expect("task" in waiting && waiting.task.waiting_reason).toContain("circuit breaker open");
    expect(flaky.taken.map((d) => d.task.task_id)).toEqual([a.task_id, b.task_id]);

    // After the recovery timeout it goes half-open: the task is the trial, and its success closes it.
    const done = await eventOf(c.task_id, "completed");
    expect("task" in done && done.task.attempts.map((x) => x.node_id)).toEqual(["flaky"]);
    expect(Date.parse(done.ts)).toBeGreaterThanOrEqual(Date.parse(open.retry_at ?? ""));
    await waitFor(async () => (await breaker(ctx, "flaky"))?.state === "closed");
  });

  it("a failed trial opens it again for another recovery timeout", async () => {
    const { ctx, node, eventOf } = await setup(settings);
    const fail: Outcome = { error: { code: "OC-6006", message: "still broken", retryable: true } };
    await node("broken", { run: async () => fail });
    const tasks = [once(), once(), once()];
    for (const t of tasks.slice(0, 2)) await submit(ctx, t);
    for (const t of tasks.slice(0, 2)) await eventOf(t.task_id, "failed");
    const first = await waitFor(async () => {
      const r = await breaker(ctx, "broken");
      return r?.state === "open" ? r : undefined;
    });
    await submit(ctx, tasks[2] as TaskSpec);
    await eventOf((tasks[2] as TaskSpec).task_id, "failed"); // the trial, after the recovery timeout
    const again = await waitFor(async () => {
      const r = await breaker(ctx, "broken");
      return r?.state === "open" && r.opened_at !== first.opened_at ? r : undefined;
    });
    expect(again.last_error).toBe("OC-6006: still broken");
  });

  it("a node that never starts the attempts it is sent opens its breaker (OC-6009, the node's fault)", async () => {
    const { ctx, node, eventOf } = await setup({
      ...settings,
      scheduler: { ...settings.scheduler, dispatch_timeout: "300ms" },
    });
    await node("slowpoke", { silent: true, capacity: 3 });
    const tasks = [spec(), spec(), spec()];
    for (const t of tasks) await submit(ctx, t);
    // Each is dispatched, never started, taken back (lost): no attempt of the task is used up.
    for (const t of tasks) await eventOf(t.task_id, "retrying");
    const open = await waitFor(async () => {
      const r = await breaker(ctx, "slowpoke");
      return r?.state === "open" ? r : undefined;
    });
    expect(open.last_error).toMatch(/^OC-6009: not started within 300 ms/);
  });

  // Hardening item 7: anyone who may submit opened every node's breaker with five tasks failing
  // on their own input (retryable: false, the shell skill refusing a command not on the allow-list,
  // a result over tasks.max_result_bytes): each node was in error for 60 s.
  it("failures the task's input can cause never count against the node, nor do cancellations", async () => {
    const { ctx, node, events, eventOf } = await setup(settings);
    const inputCaused: Outcome[] = [
      { error: { code: "OC-6001", message: "command 'rm' is not allowed on this node", retryable: false } },
      { error: { code: "OC-6001", message: "TypeError: input.x is undefined", retryable: true } },
      { error: { code: "OC-6007", message: "the result is 2000000 bytes of JSON", retryable: false } },
      { error: { code: "OC-6002", message: "exit status 1", retryable: true } },
      { error: { code: "OC-6003", message: "stdout is not JSON", retryable: false } },
      { error: { code: "OC-6004", message: "timed out after 10 ms", retryable: true } },
      { error: { code: "OC-6008", message: "no way to run it", retryable: false } },
      { error: { code: "OC-6005", message: "cancelled", retryable: false } },
      { error: { code: "OC-6006", message: "a node-caused code the skill marked final", retryable: false } },
    ];
    const tasks = inputCaused.map(() => once());
    const outcomes = new Map(tasks.map((t, i) => [t.task_id, inputCaused[i] as Outcome]));
    await node("victim", { run: async (d) => outcomes.get(d.task.task_id) ?? { result: "fine" } });
    for (const t of tasks) await submit(ctx, t);
    const ended = (id: string) =>
      events.some((e) => e.task_id === id && ["failed", "timeout", "cancelled"].includes(e.kind));
    await waitFor(() => tasks.every((t) => ended(t.task_id)), { timeout: 15_000 });
    await ticks(ctx, 2);
    expect(await breaker(ctx, "victim")).toBeUndefined();
    const ok = { ...once(), payload: "ok" };
    await submit(ctx, ok);
    const done = await eventOf(ok.task_id, "completed");
    expect("task" in done && done.task.attempts.map((x) => x.node_id)).toEqual(["victim"]);
    expect(await breaker(ctx, "victim")).toBeUndefined();
  });
});

describe("drain", () => {
  it("places nothing new on a drained node, says why, and places again once it is undrained", async () => {
    const { ctx, node, eventOf } = await setup();
    const n = await node("maint");
    const drained = { since: new Date().toISOString(), reason: "kernel upgrade", session: null };
    await heartbeat(ctx, "maint", { drain: drained }, 1);
    const t = spec();
    await submit(ctx, t);
    const waiting = await eventOf(t.task_id, "waiting");
    expect("task" in waiting && waiting.task.waiting_reason).toBe(
      "no node with skill echo can take work (maint: draining (kernel upgrade))",
    );
    expect(n.taken).toHaveLength(0);
    await heartbeat(ctx, "maint", { drain: null }, 2);
    await eventOf(t.task_id, "completed");
    expect(n.taken).toHaveLength(1);
  });
});

describe("running attempts a live node stops listing", () => {
  it("are taken back after unhealthy_threshold heartbeats without them, and run elsewhere without using up an attempt", async () => {
    const { ctx, node, eventOf } = await setup({ health: { unhealthy_threshold: 2 } });
    await node("a-forgetful", { run: () => new Promise<Outcome>(() => undefined) });
    const t = once();
    await submit(ctx, t);
    await eventOf(t.task_id, "started");
    await node("b-rescuer");
    // Heartbeats that list it keep it where it is.
    await heartbeat(
      ctx,
      "a-forgetful",
      { load: { ...nodeRecord().load, running_task_ids: [t.task_id] } },
      10,
    );
    await heartbeat(
      ctx,
      "a-forgetful",
      { load: { ...nodeRecord().load, running_task_ids: [t.task_id] } },
      11,
    );
    // Past the slack for a heartbeat sent just before the start.
    await new Promise((r) => setTimeout(r, 1200));
    // Two heartbeats in a row without it: the worker lost it.
    for (const seq of [12, 13]) {
      await heartbeat(ctx, "a-forgetful", { load: nodeRecord().load }, seq);
      await new Promise((r) => setTimeout(r, 250));
    }
    const done = await eventOf(t.task_id, "completed");
    expect("task" in done && done.task.attempts.map((a) => [a.node_id, a.status, a.error?.message])).toEqual([
      ["a-forgetful", "lost", "node a-forgetful stopped listing the attempt in its heartbeats"],
      ["b-rescuer", "completed", undefined],
    ]);
  });
});

describe("a node that comes back from a partition", () => {
  it("is told to abort the attempt that was moved off it, and its late result changes nothing", async () => {
    const { ctx, node, eventOf } = await setup();
    let release: (o: Outcome) => void = () => undefined;
    const late = new Promise<Outcome>((r) => {
      release = r;
    });
    await node("a-paused", { run: () => late });
    const t = once();
    await submit(ctx, t);
    await eventOf(t.task_id, "started");
    const aborts: { task_id: string; attempt: number }[] = [];
    ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.nodeCommand("a-paused", "cancel"), {
      callback: (_e, m) => {
        aborts.push(JSON.parse(new TextDecoder().decode(m.data)));
      },
    });
    await node("b-rescuer");
    const health = (status: "online" | "offline") => ({
      node_id: "a-paused",
      session: "s-a-paused",
      status,
      reason: status,
      since: new Date().toISOString(),
      last_seen: null,
      missed_heartbeats: 0,
      consecutive_heartbeats: 0,
      checked_at: new Date().toISOString(),
    });
    // Declared dead: the task moves and completes elsewhere.
    await ctx.cluster.kv.nodeHealth.put("a-paused", encode(health("offline")));
    const done = await eventOf(t.task_id, "completed");
    expect("task" in done && done.task.attempts.map((a) => [a.node_id, a.status])).toEqual([
      ["a-paused", "lost"],
      ["b-rescuer", "completed"],
    ]);
    // It wakes up, heartbeats again still running its attempt, and is told to abort it.
    await ctx.cluster.kv.nodeHealth.put("a-paused", encode(health("online")));
    await new Promise((r) => setTimeout(r, 1100)); // its heartbeat comes well after the attempt was lost
    await heartbeat(ctx, "a-paused", { load: { ...nodeRecord().load, running_task_ids: [t.task_id] } }, 50);
    await waitFor(() => aborts.some((a) => a.task_id === t.task_id && a.attempt === 1));
    // Its result comes in anyway: fenced, the task stays completed by the rescuer.
    release({ result: "stale" });
    await ticks(ctx, 3);
    const entry = await ctx.cluster.kv.tasks.get(t.task_id);
    const rec = decode(TaskRecord, entry?.value ?? new Uint8Array());
    expect(rec.ok && [rec.value.status, rec.value.result, rec.value.attempts.length]).toEqual([
      "completed",
      t.payload,
      2,
    ]);
  });
});

describe("scheduler takeover", () => {
  it("announces what the dead leader wrote but never published, and nothing it did", async () => {
    const cfg = { cluster: { election_timeout: "1s", lease_renew_interval: "200ms" } };
    const first = await setup(cfg);
    const ctx = await context(server, cfg, first.ctx.cluster.names.prefix);
    cleanup.unshift(() => ctx.close());
    const [t1, t2] = [spec(), spec()];
    await submit(ctx, t1);
    await submit(ctx, t2);
    await first.eventOf(t1.task_id, "waiting");
    await first.eventOf(t2.task_id, "waiting");
    const tasks = ctx.cluster.kv.tasks;
    const revisionOf = async (id: string) => (await tasks.get(id))?.revision ?? 0;
    const r2 = Math.max(await revisionOf(t1.task_id), await revisionOf(t2.task_id));
    await waitFor(async () => {
      const e = await ctx.cluster.kv.scheduler.get("events_published");
      return e
        ? (JSON.parse(new TextDecoder().decode(e.value)) as { revision: number }).revision >= r2
        : false;
    });
    await cleanup.pop()?.(); // the first leader goes away
    // A record the leader wrote just before it died, its event never published.
    const entry = await tasks.get(t2.task_id);
    const rec = decode(TaskRecord, entry?.value ?? new Uint8Array()) as { ok: true; value: TaskRecord };
    const cancelled: TaskRecord = {
      ...rec.value,
      status: "cancelled",
      completed_at: new Date().toISOString(),
      error: { code: "OC-6005", message: "cancelled", retryable: false },
    };
    await tasks.update(t2.task_id, encode(cancelled), entry?.revision ?? 0);
    const second = await setup(cfg, ctx.cluster.names.prefix);
    const late = await second.eventOf(t2.task_id, "cancelled");
    expect("task" in late && late.task.status).toBe("cancelled");
    // Nothing the first leader had announced is announced again.
    await ticks(second.ctx, 3);
    expect(second.events.filter((e) => e.task_id === t1.task_id)).toEqual([]);
    expect(second.events.filter((e) => e.task_id === t2.task_id).map((e) => e.kind)).toEqual(["cancelled"]);
  });
});
