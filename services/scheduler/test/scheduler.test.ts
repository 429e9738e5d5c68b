import { decode, encode } from "@openclaw/bus";
import { envelope, QueueStats, type TaskEvent, TaskRecord } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Scheduler, startScheduler } from "../src/index.js";
import { spec } from "./fixtures.js";
import {
  context,
  leadingScheduler,
  type Outcome,
  recordEvents,
  type SimNode,
  simNode,
  submit,
  ticks,
} from "./harness.js";

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

async function setup(config: Parameters<typeof context>[1] = {}) {
  const { ctx, events, scheduler, node } = await leadingScheduler(server, cleanup, config);
  const final = (id: string) =>
    waitFor(
      () =>
        events.find(
          (e) => e.task_id === id && ["completed", "failed", "cancelled", "timeout"].includes(e.kind),
        ),
      {
        timeout: 15_000,
        message: `task ${id} never finished`,
      },
    );
  return { ctx, events, scheduler, node, final };
}

const kinds = (events: TaskEvent[], id: string) => events.filter((e) => e.task_id === id).map((e) => e.kind);

describe("scheduler", () => {
  it("runs a task only on a node with every required skill", async () => {
    const { ctx, node, final } = await setup();
    const plain = await node("plain", { skills: ["echo"] });
    const pdf = await node("pdf", { skills: ["echo", "pdf"] });
    const tasks = Array.from({ length: 10 }, () => spec({ required_skills: ["pdf"], task_type: "pdf" }));
    for (const t of tasks) await submit(ctx, t);
    for (const t of tasks) expect((await final(t.task_id)).kind).toBe("completed");
    expect(plain.taken).toHaveLength(0);
    expect(pdf.taken).toHaveLength(10);
  });

  it("keeps a task nobody can run queued, says why, and places it as soon as a fitting node appears", async () => {
    const { ctx, events, node, final } = await setup();
    await node("a", { skills: ["echo"] });
    const t = spec({ required_skills: ["translate"], task_type: "translate" });
    await submit(ctx, t);
    const waiting = await waitFor(() => events.find((e) => e.task_id === t.task_id && e.kind === "waiting"));
    expect("task" in waiting && waiting.task.waiting_reason).toBe("no online node has skill translate");
    const b = await node("b", { skills: ["translate"] });
    expect((await final(t.task_id)).kind).toBe("completed");
    expect(b.taken.map((d) => d.task.task_id)).toEqual([t.task_id]);
  });

  it("never runs more than a node's max_concurrent_tasks, across a burst", async () => {
    const { ctx, node, final } = await setup();
    const slow =
      (ms: number) =>
      async (d: { task: { payload: unknown } }): Promise<Outcome> => {
        await new Promise((r) => setTimeout(r, ms));
        return { result: d.task.payload };
      };
    const nodes: SimNode[] = [
      await node("c1", { capacity: 2, run: slow(30) }),
      await node("c2", { capacity: 3, run: slow(30) }),
    ];
    const tasks = Array.from({ length: 60 }, (_, i) => spec({ payload: i }));
    await Promise.all(tasks.map((t) => submit(ctx, t)));
    for (const t of tasks) await final(t.task_id);
    expect(nodes[0]?.maxRunning).toBeLessThanOrEqual(2);
    expect(nodes[1]?.maxRunning).toBeLessThanOrEqual(3);
    expect((nodes[0]?.taken.length ?? 0) + (nodes[1]?.taken.length ?? 0)).toBe(60);
  });

  it("one task for one id also when a repeat gets past the stream's duplicate window: live, finished, or twice in a burst", async () => {
    const { ctx, events, node, final } = await setup();
    const n = await node("dup", { capacity: 4 });
    const t = spec();
    await submit(ctx, t);
    await submit(ctx, t, `${t.task_id}-again`); // while it is live
    await final(t.task_id);
    const before = await ctx.cluster.kv.tasks.get(t.task_id);
    // After it finished, among new tasks of the same kind (so in a placement round with them).
    const others = Array.from({ length: 20 }, () => spec());
    await Promise.all([
      submit(ctx, t, `${t.task_id}-late`),
      ...others.flatMap((o) => [submit(ctx, o), submit(ctx, o, `${o.task_id}-burst`)]),
    ]);
    for (const o of others) expect((await final(o.task_id)).kind).toBe("completed");
    expect((await ctx.cluster.kv.tasks.get(t.task_id))?.revision).toBe(before?.revision);
    for (const id of [t.task_id, ...others.map((o) => o.task_id)]) {
      expect(kinds(events, id).filter((k) => k === "submitted")).toHaveLength(1);
      expect(n.taken.filter((d) => d.task.task_id === id)).toHaveLength(1);
    }
    // A repeat is not a dispatch failure: no new task was told so.
    const reasons = events.flatMap((e) =>
      "task" in e && e.task.waiting_reason ? [e.task.waiting_reason] : [],
    );
    expect(reasons).toEqual([]);
  });

  it("records a start and its outcome that arrive together in one write, and still announces both, in order", async () => {
    const { ctx, events, node, final } = await setup();
    await node("quick", { capacity: 50, together: true });
    const tasks = Array.from({ length: 200 }, (_, i) => spec({ payload: i }));
    await Promise.all(tasks.map((t) => submit(ctx, t)));
    for (const t of tasks) expect((await final(t.task_id)).kind).toBe("completed");
    for (const t of tasks) {
      expect(kinds(events, t.task_id)).toEqual(["submitted", "scheduled", "started", "completed"]);
      const e = await ctx.cluster.kv.tasks.get(t.task_id);
      const rec = e ? decode(TaskRecord, e.value) : undefined;
      expect(rec?.ok && rec.value.status === "completed" && rec.value.started_at !== null).toBe(true);
    }
    // Four writes a task (pending, scheduled, running, completed) without coalescing; a burst has
    // starts and outcomes in one batch, and those skip the running write.
    const info = await ctx.cluster.jsm.streams.info(`KV_${ctx.cluster.names.buckets.tasks}`);
    expect(info.state.last_seq).toBeLessThan(4 * tasks.length);
  });

  it("takes an outcome with no start report before it as a start and its outcome: both announced, in order, one write", async () => {
    const { ctx, events, node, final } = await setup();
    await node("brief", { capacity: 4, noStart: true });
    const ok = spec({ payload: "ok" });
    await submit(ctx, ok);
    expect((await final(ok.task_id)).kind).toBe("completed");
    expect(kinds(events, ok.task_id)).toEqual(["submitted", "scheduled", "started", "completed"]);
    const e = await ctx.cluster.kv.tasks.get(ok.task_id);
    const rec = e ? decode(TaskRecord, e.value) : undefined;
    expect(rec?.ok && rec.value.started_at !== null && rec.value.status === "completed").toBe(true);
  });

  it("dispatches by priority: critical before high before normal before low", async () => {
    const { ctx, node, final } = await setup();
    const order = ["low", "normal", "critical", "high", "low", "critical"] as const;
    const tasks = order.map((priority) => spec({ priority, required_skills: ["prio"], task_type: "prio" }));
    for (const t of tasks) await submit(ctx, t);
    // Queue them all first, then let one single-slot node take them one by one.
    await waitFor(async () => {
      const e = await ctx.cluster.kv.scheduler.get("queue");
      const stats = e ? decode(QueueStats, e.value) : undefined;
      return stats?.ok && stats.value.pending === tasks.length;
    });
    const n = await node("p", { capacity: 1, skills: ["prio"] });
    for (const t of tasks) await final(t.task_id);
    const got = n.taken.map((d) => d.task.priority);
    expect(got).toEqual(["critical", "critical", "high", "normal", "low", "low"]);
  });

  it("retries a failing task with growing delays, then gives up with every attempt's error", async () => {
    const { ctx, events, node, final } = await setup();
    const n = await node("f", {
      run: async () => ({ error: { code: "OC-6001", message: "it broke", retryable: true } }),
    });
    const t = spec({
      retry: {
        max_attempts: 3,
        backoff: "exponential",
        initial_backoff_ms: 200,
        max_backoff_ms: 10_000,
        jitter: 0,
      },
    });
    await submit(ctx, t);
    const end = await final(t.task_id);
    expect(end.kind).toBe("failed");
    expect(kinds(events, t.task_id).filter((k) => k === "retrying")).toHaveLength(2);
    const attempts = "task" in end ? end.task.attempts : [];
    expect(attempts.map((a) => a.error?.message)).toEqual(["it broke", "it broke", "it broke"]);
    const gaps = attempts
      .slice(1)
      .map((a, i) => Date.parse(a.scheduled_at) - Date.parse(attempts[i]?.ended_at ?? ""));
    expect(gaps[0]).toBeGreaterThanOrEqual(200);
    expect(gaps[1]).toBeGreaterThanOrEqual(400);
    expect(n.taken.map((d) => d.attempt)).toEqual([1, 2, 3]);
  });

  it("cancels a queued task and a running one (the node is told to abort)", async () => {
    const { ctx, node, final } = await setup();
    const aborts: string[] = [];
    ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.nodeCommand("hold", "cancel"), {
      callback: (_e, m) => {
        aborts.push(new TextDecoder().decode(m.data));
      },
    });
    const forever = () => new Promise<Outcome>(() => undefined);
    await node("hold", { capacity: 1, run: forever });
    const running = spec();
    const queued = spec();
    await submit(ctx, running);
    await submit(ctx, queued);
    const cancel = (id: string) =>
      ctx.cluster.js.publish(
        ctx.cluster.names.subjects.schedCancel,
        encode({ ...envelope(ctx.sender), task_id: id, reason: "user asked" }),
      );
    const events = recordEvents(ctx);
    await waitFor(() => events.some((e) => e.task_id === running.task_id && e.kind === "started"));
    expect(aborts).toEqual([]);
    await cancel(queued.task_id);
    expect((await final(queued.task_id)).kind).toBe("cancelled");
    await cancel(running.task_id);
    expect((await final(running.task_id)).kind).toBe("cancelled");
    await waitFor(() => aborts.some((a) => a.includes(running.task_id)));
  });

  it("one task for one id, however often it is submitted", async () => {
    const { ctx, events, node, final } = await setup();
    const n = await node("i");
    const t = spec();
    await submit(ctx, t);
    await submit(ctx, { ...t });
    await final(t.task_id);
    await submit(ctx, t); // again after it finished
    // The inbox is handled in order: once a later task is done, the repeat has been handled too.
    const later = spec();
    await submit(ctx, later);
    await final(later.task_id);
    expect(kinds(events, t.task_id).filter((k) => k === "submitted")).toHaveLength(1);
    expect(n.taken.filter((d) => d.task.task_id === t.task_id)).toHaveLength(1);
  });

  it("a batch of submissions in one message: a task each, a repeated id once, a bad entry dropped alone", async () => {
    const { ctx, events, node, final } = await setup();
    const n = await node("batch", { capacity: 10 });
    const tasks = Array.from({ length: 5 }, () => spec());
    const entry = (t: (typeof tasks)[number]) => ({
      ...envelope(ctx.sender),
      task: t,
      submitted_at: new Date().toISOString(),
    });
    const batch = {
      ...envelope(ctx.sender),
      submissions: [
        ...tasks.map(entry),
        entry(tasks[0] as (typeof tasks)[number]),
        { task: { task_id: "no good" } },
      ],
    };
    const { names, js, jsm } = ctx.cluster;
    await js.publish(names.subjects.schedSubmitBatch, encode(batch), { msgID: batch.id });
    for (const t of tasks) expect((await final(t.task_id)).kind).toBe("completed");
    const first = (tasks[0] as (typeof tasks)[number]).task_id;
    expect(kinds(events, first).filter((k) => k === "submitted")).toHaveLength(1);
    expect(n.taken.filter((d) => d.task.task_id === first)).toHaveLength(1);
    // Acknowledged once every entry was handled: the work queue is empty, nothing comes back.
    await waitFor(async () => (await jsm.streams.info(names.streams.sched)).state.messages === 0);
  });

  it("sends every task with the same affinity key to the same node (strategy hash)", async () => {
    const { ctx, node, final } = await setup({ scheduler: { strategy: "hash" } });
    const nodes = [
      await node("h1", { capacity: 8 }),
      await node("h2", { capacity: 8 }),
      await node("h3", { capacity: 8 }),
    ];
    const keys = ["customer-1", "customer-2", "customer-3", "customer-4", "customer-5", "customer-6"];
    const tasks = keys.flatMap((key) =>
      Array.from({ length: 4 }, () => spec({ affinity_key: key, payload: key })),
    );
    for (const t of tasks) await submit(ctx, t);
    for (const t of tasks) await final(t.task_id);
    const homes = new Map<string, Set<string>>();
    for (const n of nodes)
      for (const d of n.taken)
        homes.set(String(d.task.payload), (homes.get(String(d.task.payload)) ?? new Set()).add(n.id));
    for (const key of keys) expect(homes.get(key)?.size, key).toBe(1);
    expect(new Set([...homes.values()].map((s) => [...s][0])).size).toBeGreaterThan(1); // keys spread over nodes
  });

  it("ends a task that timed out on its last attempt as timeout", async () => {
    const { ctx, node, final } = await setup();
    await node("slowpoke", {
      run: async () => ({ error: { code: "OC-6004", message: "ran past 1s", retryable: true } }),
    });
    const t = spec({
      retry: { max_attempts: 2, backoff: "fixed", initial_backoff_ms: 50, max_backoff_ms: 50, jitter: 0 },
    });
    await submit(ctx, t);
    const end = await final(t.task_id);
    expect(end.kind).toBe("timeout");
    expect("task" in end && end.task.attempts.map((a) => a.status)).toEqual(["timeout", "timeout"]);
  });

  it("takes back an attempt its node never started, and places it again without using up an attempt", async () => {
    const { ctx, node, final } = await setup({ scheduler: { dispatch_timeout: "300ms" } });
    const hung = await node("a-hung", { silent: true, capacity: 1 }); // sorts first: chosen first on a tie
    const t = spec({ retry: { ...spec().retry, max_attempts: 1 } });
    await submit(ctx, t);
    await waitFor(() => hung.taken.length === 1);
    const healthy = await node("healthy", { capacity: 1 });
    const end = await final(t.task_id);
    expect(end.kind).toBe("completed");
    expect("task" in end && end.task.attempts.map((a) => [a.node_id, a.status])).toEqual([
      ["a-hung", "lost"],
      ["healthy", "completed"],
    ]);
    expect(healthy.taken).toHaveLength(1);
  });

  it("moves a running task off a node that dies or restarts, at once, without using up an attempt", async () => {
    const { ctx, events, node, final } = await setup();
    const forever = () => new Promise<Outcome>(() => undefined);
    const doomed = await node("a-doomed", { capacity: 2, run: forever });
    const t1 = spec({ retry: { ...spec().retry, max_attempts: 1 } });
    const t2 = spec({ retry: { ...spec().retry, max_attempts: 1 } });
    await submit(ctx, t1);
    await submit(ctx, t2);
    await waitFor(() =>
      [t1, t2].every((t) => events.some((e) => e.task_id === t.task_id && e.kind === "started")),
    );
    const rescuer = await node("b-rescuer", { capacity: 2 });
    // The node's worker comes back as a new process: whatever it was running died with the old one.
    const { nodeRecord, nodeDescriptor } = await import("@openclaw/testing");
    const restarted = nodeRecord(
      nodeDescriptor("a-doomed", {
        session: "s-new",
        max_concurrent_tasks: 2,
        skills: [{ name: "echo", version: null, description: "" }],
      }),
    );
    await ctx.cluster.kv.nodes.put("a-doomed", encode(restarted));
    for (const t of [t1, t2]) {
      const end = await final(t.task_id);
      expect(end.kind).toBe("completed");
      expect("task" in end && end.task.attempts.map((a) => [a.node_id, a.status])).toEqual([
        ["a-doomed", "lost"],
        ["b-rescuer", "completed"],
      ]);
    }
    expect(doomed.taken).toHaveLength(2);
    expect(rescuer.taken).toHaveLength(2);
  });

  it("sends a cancel's abort again while the node still lists the attempt as running", async () => {
    const { ctx, events, node, final } = await setup();
    let aborts = 0;
    ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.nodeCommand("stubborn", "cancel"), {
      callback: () => {
        aborts += 1;
      },
    });
    await node("stubborn", { run: () => new Promise<Outcome>(() => undefined) });
    const t = spec();
    await submit(ctx, t);
    await waitFor(() => events.some((e) => e.task_id === t.task_id && e.kind === "started"));
    // The node's heartbeat says it is still running the task after the cancel (it missed the abort).
    const { nodeDescriptor, nodeRecord } = await import("@openclaw/testing");
    const still = nodeRecord(
      nodeDescriptor("stubborn", {
        max_concurrent_tasks: 2,
        skills: [{ name: "echo", version: null, description: "" }],
      }),
      {
        load: {
          cpu_usage: 0,
          memory_usage: 0,
          disk_usage: 0,
          running_tasks: 1,
          running_task_ids: [t.task_id],
        },
      },
    );
    await ctx.cluster.js.publish(
      ctx.cluster.names.subjects.schedCancel,
      encode({ ...envelope(ctx.sender), task_id: t.task_id, reason: "stop" }),
    );
    expect((await final(t.task_id)).kind).toBe("cancelled");
    // It heartbeats on, listing the task: each heartbeat well after the cancel brings the abort again.
    let seq = 0;
    await waitFor(
      async () => {
        seq += 1;
        const at = new Date().toISOString();
        await ctx.cluster.kv.nodes.put(
          "stubborn",
          encode({ ...still, heartbeat_seq: seq, last_heartbeat: at }),
        );
        return aborts >= 3;
      },
      { timeout: 10_000, interval: 300 },
    );
  });

  it("writes no waiting reason into tasks that only wait for a free slot, but does for a task nobody can run", async () => {
    const { ctx, events, node } = await setup();
    const busy = await node("busy", { silent: true, capacity: 1 });
    const queued = [spec(), spec(), spec()];
    for (const t of queued) await submit(ctx, t);
    const stuck = spec({ required_skills: ["translate"], task_type: "translate" });
    await submit(ctx, stuck);
    const waiting = await waitFor(() =>
      events.find((e) => e.task_id === stuck.task_id && e.kind === "waiting"),
    );
    expect("task" in waiting && waiting.task.waiting_reason).toBe("no online node has skill translate");
    await waitFor(() => busy.taken.length === 1);
    // Several placement rounds later, the queued ones still have no reason written: the cluster is
    // just full (cluster health and queue figures show that), nothing to act on.
    await ticks(ctx, 3);
    for (const t of queued) {
      if (busy.taken.some((d) => d.task.task_id === t.task_id)) continue;
      expect(kinds(events, t.task_id)).toEqual(["submitted"]);
      const rec = decode(TaskRecord, (await ctx.cluster.kv.tasks.get(t.task_id))?.value ?? new Uint8Array());
      expect(rec.ok && rec.value.waiting_reason).toBeNull();
    }
  });

  it("answers a route dry run with the node it would choose, dispatching nothing", async () => {
    const { ctx, node } = await setup();
    const n = await node("r1", { skills: ["echo", "gpu-render"], labels: { gpu: "true" } });
    await node("r2");
    const ask = async (body: object) =>
      JSON.parse(
        new TextDecoder().decode(
          (await ctx.cluster.nc.request(ctx.cluster.names.subjects.route, encode(body), { timeout: 2000 }))
            .data,
        ),
      );
    expect(await ask({ type: "gpu-render" })).toEqual({ node_id: "r1", reason: null });
    expect(await ask({ type: "echo", constraints: { require_gpu: true } })).toEqual({
      node_id: "r1",
      reason: null,
    });
    expect(await ask({ type: "translate" })).toEqual({
      node_id: null,
      reason: "no online node has skill translate",
    });
    expect((await ask({ type: "a.b" })).error).toContain("type");
    expect(n.taken).toHaveLength(0);
  });
});

describe("scheduler failover", () => {
  it("a standby takes over, rebuilds the queue from the bucket, and carries on", async () => {
    const ctx = await context(server, { cluster: { election_timeout: "1s", lease_renew_interval: "200ms" } });
    const events = recordEvents(ctx);
    const a: Scheduler = await startScheduler(ctx);
    await waitFor(() => a.isLeader());
    const ctxB = await context(
      server,
      { cluster: { election_timeout: "1s", lease_renew_interval: "200ms" } },
      ctx.cluster.names.prefix,
    );
    const b = await startScheduler(ctxB);
    cleanup.push(async () => {
      await b.stop();
      await ctxB.close();
      await ctx.close();
    });
    // Tasks queued with no node to run them, then the leader goes away cleanly.
    const tasks = Array.from({ length: 5 }, () => spec());
    for (const t of tasks) await submit(ctx, t);
    await waitFor(() =>
      tasks.every((t) => events.some((e) => e.task_id === t.task_id && e.kind === "waiting")),
    );
    await a.stop();
    await waitFor(() => b.isLeader(), { timeout: 5000 });
    const n = await simNode(ctx, "late");
    cleanup.push(n.stop);
    await waitFor(
      () => tasks.every((t) => events.some((e) => e.task_id === t.task_id && e.kind === "completed")),
      { timeout: 15_000 },
    );
    expect(n.taken).toHaveLength(5);
  });
});

describe("scheduler on a NATS server with the default 1 MB max_payload", () => {
  it("fails a task whose result cannot be stored with it, instead of retrying the save forever", async () => {
    const small = await startNatsServer({ extraConfig: "max_payload: 1MB" });
    const ctx = await context(small);
    const events = recordEvents(ctx);
    const scheduler = await startScheduler(ctx);
    const n = await simNode(ctx, "big", { run: async () => ({ result: "r".repeat(600_000) }) });
    try {
      await waitFor(() => scheduler.isLeader());
      const t = spec({ payload: "p".repeat(500_000), retry: { ...spec().retry, max_attempts: 1 } });
      await submit(ctx, t);
      const end = await waitFor(
        () => events.find((e) => e.task_id === t.task_id && ["completed", "failed"].includes(e.kind)),
        { timeout: 15_000 },
      );
      expect(end.kind).toBe("failed");
      expect("task" in end && end.task.error).toMatchObject({ code: "OC-6007", retryable: false });
    } finally {
      await n.stop();
      await scheduler.stop();
      await ctx.close();
      await small.stop();
    }
  });
});
