/**
 * Fault tolerance of the two leader roles, with every service a separate process: SIGKILL the
 * active scheduler under load, and the active health monitor before a worker dies mid-task. The
 * standby must take the lease within the election timeout (plus room for a slow machine), carry
 * on from what is stored in NATS, and no task may be lost, run on two nodes at once or complete
 * twice.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Cluster, decode, readLeaders } from "@openclaw/bus";
import { OpenClawCluster } from "@openclaw/cluster";
import { Checkpoint, isTerminal, NodeHealthRecord, TaskEvent, TaskRecord } from "@openclaw/protocol";
import {
  type NatsServer,
  type ServiceProcess,
  StopWaiting,
  startNatsServer,
  waitFor,
} from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

const ELECTION_MS = 2000;
/** Every test's leases: a crashed leader's key lapses after ELECTION_MS, a standby tries every renew interval. */
const LEASE_ENV = {
  OPENCLAW_ELECTION_TIMEOUT: `${ELECTION_MS}ms`,
  OPENCLAW_LEASE_RENEW_INTERVAL: "500ms",
  OPENCLAW_SCHEDULER_INTERVAL: "500ms",
};
/** How long after the kill a standby may take to lead: the election timeout, plus room for a busy 2-core machine. */
const TAKEOVER_BOUND_MS = ELECTION_MS + 5000;

let nats: NatsServer;
let c: TestCluster | undefined;
let sdk: OpenClawCluster | undefined;

beforeAll(async () => {
  nats = await startNatsServer();
});

afterEach(async (ctx) => {
  // A failed run leaves every process's log lines behind for a look.
  if (ctx.task.result?.state === "fail" && c) {
    const dir = mkdtempSync(join(tmpdir(), "oc-takeover-logs-"));
    c.processes.forEach((p, i) => {
      const who = p.logs.find((l) => l.instance);
      writeFileSync(
        join(dir, `${i}-${String(who?.service)}-${String(who?.instance)}.jsonl`),
        `${p.logs.map((l) => JSON.stringify(l)).join("\n")}\n${p.stderr()}`,
      );
    });
    console.log(`[takeover] logs of the failed test: ${dir}`);
  }
  await sdk?.close();
  sdk = undefined;
  await c?.stop();
  c = undefined;
});

afterAll(async () => {
  await OpenClawCluster.closeAll();
  await nats?.stop();
});

/** A cluster of its own (own subject prefix) on the shared nats-server, with these timings for every process. */
async function cluster(env: Record<string, string>): Promise<TestCluster> {
  c = await startTestCluster({ nats });
  // `spawn` reads `c.env` at each start: every service and worker gets these timings.
  Object.assign(c.env, env);
  return c;
}

/** An SDK client of the cluster (closed after the test) and its NATS side. */
async function client(tc: TestCluster): Promise<{ api: OpenClawCluster; bus: Cluster }> {
  const api = new OpenClawCluster({ natsUrl: tc.nats.url, prefix: tc.prefix });
  sdk = api;
  return { api, bus: (await api.connection()).cluster };
}

/** The instance holding `role`'s lease now, from the `leases` bucket. */
async function holder(bus: Cluster, role: string): Promise<string | undefined> {
  return (await readLeaders(bus, [role])).leaders[role]?.holder;
}

/** Waits until one of `procs` holds `role`'s lease and says it leads (its takeover is done); its id. */
async function leaderAmong(bus: Cluster, role: string, procs: Map<string, ServiceProcess>): Promise<string> {
  const id = await waitFor(
    async () => {
      const h = await holder(bus, role);
      return h && procs.has(h) ? h : undefined;
    },
    { timeout: 30_000, message: `no ${role} leader` },
  );
  await procs.get(id)?.waitForLog((l) => l.message === "elected leader" && l.role === role, 30_000);
  return id;
}

/**
 * SIGKILLs `role`'s leader and measures the takeover: when the standby's name is in the lease,
 * and when the standby logs `elected leader` (it has rebuilt its state and acts), both from the kill.
 */
async function killLeaderAndMeasure(
  bus: Cluster,
  role: string,
  procs: Map<string, ServiceProcess>,
  leader: string,
  beforeTakeover: () => Promise<void> = async () => undefined,
): Promise<{ standby: string; killedAt: number; leaseMs: number; electedMs: number; term: number }> {
  const standby = [...procs.keys()].find((k) => k !== leader) as string;
  const before = procs.get(standby)?.logs.filter((l) => l.message === "elected leader").length ?? 0;
  const oldTerm = (await readLeaders(bus, [role])).leaders[role]?.term ?? 0;
  const killedAt = Date.now();
  expect(await procs.get(leader)?.signal("SIGKILL")).toBe("SIGKILL");
  // Watch the lease from the kill on, whatever the caller does meanwhile.
  const [leaseAt] = await Promise.all([
    waitFor(async () => ((await holder(bus, role)) === standby ? Date.now() : 0), {
      timeout: 30_000,
      interval: 50,
      message: `${standby} never took the ${role} lease`,
    }),
    beforeTakeover(),
  ]);
  const proc = procs.get(standby) as ServiceProcess;
  const elected = await waitFor(
    () => proc.logs.filter((l) => l.message === "elected leader" && l.role === role)[before],
    { timeout: 30_000, message: `${standby} never said it leads` },
  );
  const electedMs = Date.parse(String(elected.timestamp)) - killedAt;
  expect(Number(elected.term)).toBeGreaterThan(oldTerm);
  return { standby, killedAt, leaseMs: leaseAt - killedAt, electedMs, term: Number(elected.term) };
}

/** Every `completed` event in the EVENTS stream, by task id (an ordered consumer on one filter subject). */
async function completedEvents(
  bus: Cluster,
): Promise<Map<string, Extract<TaskEvent, { kind: "completed" }>[]>> {
  const consumer = await bus.js.consumers.get(bus.names.streams.events, {
    filter_subjects: `${bus.names.prefix}.evt.task.*.completed`,
  });
  const out = new Map<string, Extract<TaskEvent, { kind: "completed" }>[]>();
  try {
    for (;;) {
      const m = await consumer.next({ expires: 2000 });
      if (!m) break;
      const d = decode(TaskEvent, m.data);
      expect(d.ok, `undecodable completed event on ${m.subject}`).toBe(true);
      if (d.ok && d.value.kind === "completed")
        out.set(d.value.task_id, [...(out.get(d.value.task_id) ?? []), d.value]);
      if (m.info.pending === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

/** The stored records of `ids` (one `get` each: a bucket-wide watch may never settle while the scheduler writes). */
async function readRecords(bus: Cluster, ids: Iterable<string>): Promise<Map<string, TaskRecord>> {
  const out = new Map<string, TaskRecord>();
  await Promise.all(
    [...ids].map(async (id) => {
      const e = await bus.kv.tasks.get(id);
      const d = e?.operation === "PUT" ? decode(TaskRecord, e.value) : undefined;
      if (d?.ok) out.set(id, d.value);
    }),
  );
  return out;
}

/** The records of `ids` once every one is completed; gives up at once if one ends otherwise. */
async function allCompleted(bus: Cluster, ids: string[], timeout: number): Promise<Map<string, TaskRecord>> {
  const open = new Set(ids);
  await waitFor(
    async () => {
      for (const [id, rec] of await readRecords(bus, open)) {
        if (rec.status === "completed") open.delete(id);
        else if (isTerminal(rec.status))
          throw new StopWaiting(`task ${id} ended ${rec.status}: ${JSON.stringify(rec.attempts)}`);
      }
      return open.size === 0;
    },
    { timeout, interval: 250, message: `not every task completed (${open.size} open)` },
  );
  return readRecords(bus, ids);
}

/** One execution of a skill on a node, as the worker logged it: `running skill` to `task succeeded`/`task failed`. */
interface Run {
  taskId: string;
  attempt: number;
  node: string;
  start: number;
  /** Infinity while it has not ended (as far as the logs tell). */
  end: number;
  ok: boolean;
}

/**
 * The executions every worker logged (log level debug). A worker that was SIGKILLed ends its
 * unfinished runs at `diedAt` (its exit was observed then); any other unfinished run never ends.
 */
function runs(workers: Map<string, ServiceProcess>, diedAt: Map<string, number> = new Map()): Run[] {
  const out: Run[] = [];
  for (const [node, proc] of workers) {
    const open = new Map<string, Run>();
    for (const l of proc.logs) {
      if (typeof l.task_id !== "string" || typeof l.attempt !== "number") continue;
      const key = `${l.task_id}#${l.attempt}`;
      const at = Date.parse(String(l.timestamp));
      const msg = String(l.message);
      if (msg === "running skill") {
        const run: Run = { taskId: l.task_id, attempt: l.attempt, node, start: at, end: Infinity, ok: false };
        open.set(key, run);
        out.push(run);
      } else if (msg === "task succeeded" || msg.startsWith("task failed")) {
        const run = open.get(key);
        if (run) {
          run.end = at;
          run.ok = msg === "task succeeded";
          open.delete(key);
        }
      }
    }
    const died = diedAt.get(node);
    if (died !== undefined) for (const run of open.values()) run.end = died;
  }
  return out;
}

/** Pairs of executions of one task that overlap in time (on any nodes). */
function overlaps(all: Run[]): string[] {
  const byTask = new Map<string, Run[]>();
  for (const r of all) byTask.set(r.taskId, [...(byTask.get(r.taskId) ?? []), r]);
  const bad: string[] = [];
  for (const [id, list] of byTask) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1] as Run;
      const next = list[i] as Run;
      if (next.start < prev.end)
        bad.push(
          `${id}: attempt ${prev.attempt} on ${prev.node} [${prev.start}, ${prev.end}] overlaps attempt ${next.attempt} on ${next.node} from ${next.start}`,
        );
    }
  }
  return bad;
}

/** The record's own account: attempts one after another, exactly one completed, and it is the last. */
function checkAttempts(id: string, rec: TaskRecord): void {
  const where = `task ${id}: ${JSON.stringify(rec.attempts)}`;
  expect(
    rec.attempts.filter((a) => a.status === "completed"),
    where,
  ).toHaveLength(1);
  expect(rec.attempts.at(-1)?.status, where).toBe("completed");
  expect(rec.attempts.at(-1)?.attempt, where).toBe(rec.attempt);
  expect(rec.attempts.at(-1)?.node_id, where).toBe(rec.assigned_node);
  for (let i = 1; i < rec.attempts.length; i++) {
    const prev = rec.attempts[i - 1];
    const next = rec.attempts[i];
    // The scheduler ended the earlier attempt before it dispatched the next one.
    expect(prev?.ended_at, where).not.toBeNull();
    expect(Date.parse(String(prev?.ended_at)), where).toBeLessThanOrEqual(
      Date.parse(String(next?.scheduled_at)),
    );
  }
}

describe("leader takeover (every service a separate process)", () => {
  it("SIGKILL the scheduler leader under load: the standby takes the lease, rebuilds from KV and carries on; every task completes exactly once, never on two nodes at once", async () => {
    const t0 = Date.now();
    const tc = await cluster({
      ...LEASE_ENV,
      // No worker dies here: heartbeats late on a loaded machine must not take attempts back.
      OPENCLAW_HEARTBEAT_INTERVAL: "500ms",
      OPENCLAW_HEARTBEAT_TIMEOUT: "15s",
      OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "250ms",
      // An order the dead leader recorded but never sent comes back after this.
      OPENCLAW_DISPATCH_TIMEOUT: "10s",
    });
    tc.spawn("registry");
    tc.spawn("health-monitor");
    const scheds = new Map(
      ["sched-a", "sched-b"].map((id) => [id, tc.spawn("scheduler", ["--instance", id])] as const),
    );
    const { url: api } = await tc.coordinator();
    const ids = ["w1", "w2", "w3"];
    const workerProcs = await Promise.all(
      ids.map((id) => tc.worker(id, EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"])),
    );
    const workers = new Map(ids.map((id, i) => [id, workerProcs[i] as ServiceProcess]));
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 3, 30_000);
    const { api: cl, bus } = await client(tc);
    const leader = await leaderAmong(bus, "scheduler", scheds);

    // Completions as they happen, to kill the leader while tasks flow.
    const seen = new Set<string>();
    const sub = bus.nc.subscribe(`${tc.prefix}.evt.task.*.completed`, {
      callback: (_e, m) => {
        const d = decode(TaskEvent, m.data);
        if (d.ok) seen.add(d.value.task_id);
      },
    });
    const submit = async (from: number, n: number) => {
      const jobs = await Promise.all(
        Array.from({ length: n }, (_, k) => {
          const i = from + k;
          return cl.submitTask(
            i % 3 === 0
              ? { type: "sleep", payload: { ms: 300, steps: 3 }, retry: { maxAttempts: 1 } }
              : { type: "echo", payload: { n: i }, retry: { maxAttempts: 1 } },
          );
        }),
      );
      return jobs.map((j) => j.id);
    };
    const WAVE1 = 200;
    const WAVE2 = 100;
    const tasks = await submit(0, WAVE1);
    // Kill once tasks complete and the leader has taken every submission of the first wave (so
    // what it held unacknowledged when it died are workers' reports, not submissions: see below).
    await waitFor(async () => seen.size >= 30 && (await readRecords(bus, tasks)).size === WAVE1, {
      timeout: 60_000,
      interval: 100,
      message: "tasks did not start flowing",
    });
    const completedAtKill = seen.size;
    const upMs = Date.now() - t0;

    // Kill the leader mid-flow; submit a second wave while no scheduler leads.
    // Inbox messages the dead leader had taken and not acknowledged: the new leader renews the
    // inbox consumer, so they come at once (not after its 30 s ack_wait) and no attempt whose
    // report was among them is taken back and run again.
    let stranded = 0;
    const takeover = await killLeaderAndMeasure(bus, "scheduler", scheds, leader, async () => {
      const { streams, consumers } = bus.names;
      stranded = (await bus.jsm.consumers.info(streams.sched, consumers.scheduler)).num_ack_pending;
      tasks.push(...(await submit(WAVE1, WAVE2)));
    });
    const N = WAVE1 + WAVE2;
    console.log(
      `[takeover] cluster up and first wave flowing after ${upMs} ms; scheduler ${leader} killed with ` +
        `${completedAtKill}/${WAVE1} of the first wave completed, ${stranded} inbox messages unacknowledged with it; ` +
        `${takeover.standby} holds the lease after ${takeover.leaseMs} ms, leads (state rebuilt) after ` +
        `${takeover.electedMs} ms (election timeout ${ELECTION_MS} ms)`,
    );
    expect(completedAtKill).toBeLessThan(WAVE1); // the kill really landed mid-flow
    expect(takeover.leaseMs).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(takeover.electedMs).toBeLessThan(TAKEOVER_BOUND_MS);
    // It rebuilt its queue from the tasks bucket: the first wave's unfinished tasks were there.
    const rebuilt = await scheds
      .get(takeover.standby)
      ?.waitForLog((l) => l.message === "scheduler state rebuilt" && Number(l.live_tasks) > 0, 5000);
    expect(Number(rebuilt?.live_tasks)).toBeGreaterThan(0);

    expect(new Set(tasks).size).toBe(N);
    console.log(`[takeover] ${seen.size}/${N} completed ${Date.now() - takeover.killedAt} ms after the kill`);
    const records = await allCompleted(bus, tasks, 60_000);
    const doneAt = Date.now();
    sub.unsubscribe();

    // Each record: one completed attempt, the last; the others (lost ones) ended before the next was sent.
    for (const [id, rec] of records) checkAttempts(id, rec);
    const lostAttempts = [...records.values()].reduce(
      (n, r) => n + r.attempts.filter((a) => a.status !== "completed").length,
      0,
    );
    // The new leader carried on: tasks completed after the kill.
    const afterKill = [...records.values()].filter(
      (r) => Date.parse(String(r.completed_at)) >= takeover.killedAt,
    ).length;
    expect(afterKill).toBeGreaterThan(0);

    // The EVENTS stream: exactly one `completed` per task, naming the attempt the record kept.
    const events = await completedEvents(bus);
    expect([...events.keys()].sort()).toEqual([...tasks].sort());
    for (const [id, list] of events) {
      expect(list, `completed events of ${id}`).toHaveLength(1);
      expect(list[0]?.task.attempt).toBe(records.get(id)?.attempt);
    }

    // What the workers ran: every task ran, no two executions of one task overlapped in time, and
    // the execution the record calls completed succeeded on that node.
    const executed = runs(workers);
    expect(overlaps(executed)).toEqual([]);
    for (const [id, rec] of records) {
      const mine = executed.filter((r) => r.taskId === id);
      expect(
        mine.some(
          (r) => r.attempt === rec.attempt && r.node === rec.assigned_node && r.ok && r.end <= doneAt,
        ),
        `no successful run of ${id} attempt ${rec.attempt} on ${rec.assigned_node}: ${JSON.stringify(mine)}`,
      ).toBe(true);
    }
    // Re-runs are allowed (a lost attempt is placed again), just never at the same time, and never
    // after an attempt that had in fact succeeded (its report still on its way to the scheduler).
    const wasted = executed.filter((r) => r.ok && r.attempt !== records.get(r.taskId)?.attempt).length;
    expect(wasted).toBe(0);
    console.log(
      `[takeover] ${N} tasks completed ${doneAt - takeover.killedAt} ms after the kill (${afterKill} of them after it); ` +
        `${lostAttempts} attempts lost and placed again; ${executed.length} executions in all, ` +
        `${executed.length - N} re-runs, ${wasted} of them after an attempt that had succeeded`,
    );
  }, 180_000);

  it("SIGKILL the health-monitor leader, then a worker mid-task: the standby takes the lease, marks the worker offline, and its tasks finish on the other worker from their checkpoints, once each", async () => {
    const tc = await cluster({
      ...LEASE_ENV,
      OPENCLAW_HEARTBEAT_INTERVAL: "300ms",
      OPENCLAW_HEARTBEAT_TIMEOUT: "4s",
      OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "200ms",
    });
    tc.spawn("registry");
    const monitors = new Map(
      ["hm-a", "hm-b"].map((id) => [id, tc.spawn("health-monitor", ["--instance", id])] as const),
    );
    const scheduler = new Map([["sched", tc.spawn("scheduler", ["--instance", "sched"])]]);
    const { url: api } = await tc.coordinator();
    const [victim, survivor] = await Promise.all([
      tc.worker("victim", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"]),
      tc.worker("survivor", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"]),
    ]);
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 2, 30_000);
    const { api: cl, bus } = await client(tc);
    await leaderAmong(bus, "scheduler", scheduler);
    const hmLeader = await leaderAmong(bus, "health-monitor", monitors);

    // Four checkpointing tasks on the victim (preferred, so they fail over elsewhere); 500 ms a step.
    const STEPS = 16;
    const jobs = await Promise.all(
      Array.from({ length: 4 }, () =>
        cl.submitTask("victim", {
          type: "sleep",
          payload: { ms: 8000, steps: STEPS },
          retry: { maxAttempts: 1 },
        }),
      ),
    );
    const tasks = jobs.map((j) => j.id);
    const checkpoint = async (id: string) => {
      const e = await bus.kv.checkpoints.get(id);
      const d = e?.operation === "PUT" ? decode(Checkpoint, e.value) : undefined;
      return d?.ok ? d.value : undefined;
    };
    await waitFor(
      async () => {
        for (const id of tasks) {
          const cp = await checkpoint(id);
          if (cp?.node_id !== "victim" || Number((cp.data as { done?: number }).done) < 3) return false;
        }
        return true;
      },
      { timeout: 30_000, message: "the tasks did not checkpoint on the victim" },
    );

    // The monitor first, then the worker, while nobody watches heartbeats.
    let workerKilledAt = 0;
    const takeover = await killLeaderAndMeasure(bus, "health-monitor", monitors, hmLeader, async () => {
      expect(await victim.signal("SIGKILL")).toBe("SIGKILL");
      workerKilledAt = Date.now();
    });
    // What the new attempts must resume from: the dead ones' last checkpoints.
    const doneAtKill = new Map<string, number>();
    for (const id of tasks) {
      const cp = await checkpoint(id);
      expect(cp?.node_id).toBe("victim");
      doneAtKill.set(id, Number((cp?.data as { done?: number } | undefined)?.done));
    }
    console.log(
      `[takeover] health monitor ${hmLeader} killed; ${takeover.standby} holds the lease after ${takeover.leaseMs} ms, ` +
        `leads after ${takeover.electedMs} ms (election timeout ${ELECTION_MS} ms); checkpoints at the kill: ${[
          ...doneAtKill.values(),
        ].join(", ")} of ${STEPS}`,
    );
    expect(takeover.leaseMs).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(takeover.electedMs).toBeLessThan(TAKEOVER_BOUND_MS);

    // The new leader (the old one is dead) declares the victim offline: its bucket, its log, the API.
    const offline = await waitFor(
      async () => {
        const e = await bus.kv.nodeHealth.get("victim");
        const d = e?.operation === "PUT" ? decode(NodeHealthRecord, e.value) : undefined;
        return d?.ok && d.value.status === "offline" ? { rec: d.value, at: Date.now() } : undefined;
      },
      { timeout: 30_000, interval: 100, message: "the victim was never marked offline" },
    );
    expect(offline.rec.reason).toBe("heartbeat_timeout");
    await monitors
      .get(takeover.standby)
      ?.waitForLog((l) => l.message === "node offline" && l.node_id === "victim", 5000);
    // The API follows the bucket (the coordinator watches it).
    await waitFor(
      async () => (await getJson<{ status: string }>(`${api}/api/v1/nodes/victim`)).body.status === "offline",
      { timeout: 10_000, message: "the API never showed the victim offline" },
    );
    console.log(`[takeover] victim offline ${offline.at - workerKilledAt} ms after its SIGKILL`);

    const records = await allCompleted(bus, tasks, 60_000);
    for (const [id, rec] of records) {
      checkAttempts(id, rec);
      expect(rec.attempts.map((a) => [a.node_id, a.status])).toEqual([
        ["victim", "lost"],
        ["survivor", "completed"],
      ]);
      const result = rec.result as { resumed_from: number; steps: number };
      expect(result.resumed_from).toBeGreaterThan(0);
      expect(result.resumed_from).toBe(doneAtKill.get(id));
      expect(result.steps).toBe(STEPS);
    }
    const events = await completedEvents(bus);
    expect([...events.keys()].sort()).toEqual([...tasks].sort());
    for (const [id, list] of events) expect(list, `completed events of ${id}`).toHaveLength(1);
    // One offline event for the victim, from the new leader.
    const offlineEvents = await bus.jsm.streams.info(bus.names.streams.events, {
      subjects_filter: `${tc.prefix}.evt.node.victim.offline`,
    });
    expect(offlineEvents.state.subjects?.[`${tc.prefix}.evt.node.victim.offline`]).toBe(1);

    // Never on two nodes at once: the survivor started each only after the victim was dead.
    const executed = runs(
      new Map([
        ["victim", victim],
        ["survivor", survivor],
      ]),
      new Map([["victim", workerKilledAt]]),
    );
    expect(overlaps(executed)).toEqual([]);
    for (const id of tasks) {
      const mine = executed.filter((r) => r.taskId === id).map((r) => [r.node, r.attempt, r.ok]);
      expect(mine).toEqual([
        ["victim", 1, false],
        ["survivor", 2, true],
      ]);
    }
  }, 120_000);
});
