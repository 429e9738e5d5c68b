import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTaskRecords } from "@openclaw/bench";
import { bindCluster, type Cluster, connectBus, decode, readLeaders } from "@openclaw/bus";
import { OpenClawCluster } from "@openclaw/cluster";
import { silentLogger } from "@openclaw/log";
import { NodeRecord, names, type TaskRecord } from "@openclaw/protocol";
import {
  type NatsCluster,
  type ServiceProcess,
  spawnOclaw,
  startNatsCluster,
  uniquePrefix,
} from "@openclaw/testing";

/**
 * The chaos run of the fault-tolerance issue: checkpointed tasks across several workers on a
 * 3-node NATS JetStream cluster (R3), while a driver SIGKILLs random workers, the active
 * scheduler and one NATS node on a schedule. At the end every task must be terminal, each
 * succeeded task's result accepted exactly once, none lost.
 */
export interface ChaosOptions {
  tasks: number;
  workers: number;
  /** Slots per worker. */
  concurrency: number;
  /** Each task sleeps this long in all, in `steps` checkpointed steps. */
  taskMs: number;
  steps: number;
  /** A random worker is SIGKILLed this often (and started again `workerDownMs` later). */
  workerKillEveryMs: number;
  workerDownMs: number;
  /** At most this many worker kills. @default unlimited */
  maxWorkerKills?: number;
  /** When (after the first task runs) the leading scheduler is SIGKILLed; a new one is started. */
  schedulerKillAtMs: number;
  /** When (after the first task runs) one NATS node is SIGKILLed, and for how long it stays down. */
  natsKillAtMs: number;
  natsDownMs: number;
  /** The whole run gives up after this long. */
  timeoutMs: number;
  /** Log every service's log lines (warnings and errors) at the end. */
  serviceLogs?: boolean;
  log?: (line: string) => void;
}

export interface ChaosReport {
  tasks: number;
  completed: number;
  failed: number;
  /** Tasks not in a terminal state when the run ended (lost). */
  unfinished: number;
  /** Completed tasks with more than one completed attempt, or more than one `completed` event. */
  completedTwice: number;
  kills: { workers: number; schedulers: number; nats: number };
  /** Attempts lost to a worker kill, and the time from the kill to the task running again. */
  failover: { count: number; minMs: number; medianMs: number; maxMs: number };
  durationMs: number;
}

const TERMINAL = new Set(["completed", "failed", "cancelled", "timeout"]);

/** Timings for a quick cluster: what a test can wait for. */
function env(natsUrl: string, prefix: string): Record<string, string> {
  return {
    NATS_URL: natsUrl,
    OPENCLAW_SUBJECT_PREFIX: prefix,
    OPENCLAW_REPLICAS: "3",
    OPENCLAW_HEARTBEAT_INTERVAL: "500ms",
    OPENCLAW_HEARTBEAT_TIMEOUT: "2500ms",
    OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "250ms",
    OPENCLAW_ELECTION_TIMEOUT: "3s",
    OPENCLAW_LEASE_RENEW_INTERVAL: "500ms",
    OPENCLAW_SCHEDULER_INTERVAL: "250ms",
    OPENCLAW_DISPATCH_TIMEOUT: "10s",
    OPENCLAW_INITIAL_BACKOFF: "200ms",
    OPENCLAW_LOG_LEVEL: "warn",
  };
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const began = Date.now();
  const nats: NatsCluster = await startNatsCluster({ size: 3 });
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), "oc-chaos-"));
  const skills = new URL("../../examples/skills", import.meta.url).pathname;
  const baseEnv = { ...env(nats.url, prefix), ...(o.serviceLogs ? { OPENCLAW_LOG_LEVEL: "info" } : {}) };
  const procs: ServiceProcess[] = [];
  const labels: string[] = [];
  const spawn = (args: string[]) => {
    const p = spawnOclaw(args, { env: baseEnv, cwd: dir });
    procs.push(p);
    labels.push(args.filter((a) => !a.startsWith("-")).join(" "));
    return p;
  };
  const schedulers = new Map<string, ServiceProcess>();
  let schedulerCount = 0;
  const startScheduler = () => {
    schedulerCount += 1;
    const instance = `chaos-scheduler-${schedulerCount}`;
    schedulers.set(instance, spawn(["scheduler", "--instance", instance]));
  };
  const workers = new Map<string, ServiceProcess | undefined>();
  const startWorker = (id: string) => {
    const p = spawn([
      "worker",
      "--node-id",
      id,
      "--skills-dir",
      skills,
      "--max-concurrent-tasks",
      String(o.concurrency),
    ]);
    workers.set(id, p);
    return p;
  };

  let bus: Cluster | undefined;
  let sdk: OpenClawCluster | undefined;
  try {
    for (const s of ["registry", "registry", "health-monitor", "health-monitor"]) spawn([s]);
    startScheduler();
    startScheduler();
    for (let i = 1; i <= o.workers; i++) startWorker(`chaos-w${i}`);
    const nc = await connectBus({
      url: nats.url,
      name: "chaos-driver",
      connectTimeoutMs: 10_000,
      log: silentLogger(),
    });
    // The services set the cluster up; the driver only binds to it, changing nothing.
    const bindDeadline = Date.now() + 60_000;
    while (!bus) {
      bus = await bindCluster(nc, names(prefix)).catch((err) => {
        if (Date.now() > bindDeadline) throw err;
        return undefined;
      });
      if (!bus) await new Promise((r) => setTimeout(r, 300));
    }
    const cluster = bus;
    // Services log at warn: wait for the workers through the nodes bucket.
    await until(async () => (await countKeys(cluster)) >= o.workers, 60_000);
    log(`cluster up: 3 NATS nodes, ${o.workers} workers; submitting ${o.tasks} tasks`);

    sdk = new OpenClawCluster({ natsUrl: nats.url, prefix });
    const client = sdk;
    const ids = Array.from({ length: o.tasks }, (_, i) => `chaos-${i}`);
    // The kill schedule counts from the first task seen running: faults before any work has
    // started (a slow start on a busy machine) would test nothing.
    let t0: number | undefined;
    // Submitted in batches; a submit that fails while NATS changes leaders is sent again (same id: one task).
    const submitting = (async () => {
      for (let i = 0; i < ids.length; i += 50) {
        await Promise.all(
          ids.slice(i, i + 50).map((id) =>
            retry(() =>
              client.submitTask({
                id,
                type: "sleep",
                payload: { ms: o.taskMs, steps: o.steps },
                retry: { maxAttempts: 10 },
              }),
            ),
          ),
        );
      }
    })();

    const kills: { node: string; at: number }[] = [];
    const counts = { workers: 0, schedulers: 0, nats: 0 };
    let schedulerKilled = false;
    let natsKilled = false;
    let lastWorkerKill = 0;
    let lastProgress = 0;
    let records: TaskRecord[] = [];
    const deadline = began + o.timeoutMs;
    for (;;) {
      const now = Date.now();
      records = await readTaskRecords(cluster, ids);
      const done = records.filter((r) => TERMINAL.has(r.status)).length;
      if (now - lastProgress >= 5000) {
        lastProgress = now;
        const by: Record<string, number> = {};
        for (const r of records) by[r.status] = (by[r.status] ?? 0) + 1;
        log(`${records.length} tasks recorded, ${done} done ${JSON.stringify(by)}`);
      }
      if (records.length === o.tasks && done === o.tasks) break;
      if (t0 === undefined && records.some((r) => r.status === "running")) t0 = now;
      if (now > deadline) {
        log(`timed out with ${o.tasks - done} tasks unfinished`);
        break;
      }
      const killsLeft = counts.workers < (o.maxWorkerKills ?? Number.POSITIVE_INFINITY);
      const started = t0 !== undefined;
      if (started && killsLeft && done < o.tasks * 0.9 && now - lastWorkerKill >= o.workerKillEveryMs) {
        lastWorkerKill = now;
        const live = [...workers].filter(([, p]) => p !== undefined);
        // A worker in the middle of tasks (by its last heartbeat): killing an idle one tests nothing.
        const busy: typeof live = [];
        for (const w of live) if ((await runningOn(cluster, w[0])) > 0) busy.push(w);
        const pick = busy[Math.floor(Math.random() * busy.length)];
        if (pick && live.length > 1) {
          const [id, p] = pick;
          p?.kill("SIGKILL");
          workers.set(id, undefined);
          kills.push({ node: id, at: Date.now() });
          counts.workers += 1;
          log(`SIGKILL worker ${id}`);
          setTimeout(() => startWorker(id), o.workerDownMs).unref();
        }
      }
      if (t0 !== undefined && !schedulerKilled && now - t0 >= o.schedulerKillAtMs) {
        schedulerKilled = true;
        const leader = (await readLeaders(cluster, ["scheduler"])).leaders.scheduler;
        const p = leader ? schedulers.get(leader.holder) : undefined;
        if (p) {
          p.kill("SIGKILL");
          counts.schedulers += 1;
          log(`SIGKILL scheduler leader ${leader?.holder}`);
          startScheduler();
        }
      }
      if (t0 !== undefined && !natsKilled && now - t0 >= o.natsKillAtMs) {
        natsKilled = true;
        const i = Math.floor(Math.random() * 3);
        await nats.stop(i);
        counts.nats += 1;
        log(`SIGKILL NATS node n${i + 1}`);
        setTimeout(
          () => void nats.restart(i).then(() => log(`NATS node n${i + 1} back`)),
          o.natsDownMs,
        ).unref();
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    await submitting;

    // Exactly once: one completed attempt per completed task, and one `completed` event.
    const completedEvents = await countCompletedEvents(cluster, prefix);
    let completed = 0;
    let failed = 0;
    let completedTwice = 0;
    const failovers: number[] = [];
    for (const r of records) {
      if (r.status === "completed") {
        completed += 1;
        const attempts = r.attempts.filter((a) => a.status === "completed").length;
        if (attempts !== 1 || (completedEvents.get(r.spec.task_id) ?? 0) !== 1) completedTwice += 1;
      } else if (TERMINAL.has(r.status)) failed += 1;
      r.attempts.forEach((a, i) => {
        if (a.status !== "lost" || !a.ended_at) return;
        const kill = kills
          .filter(
            (k) =>
              k.node === a.node_id &&
              k.at >= Date.parse(a.scheduled_at) &&
              k.at <= Date.parse(a.ended_at ?? ""),
          )
          .pop();
        const next = r.attempts[i + 1];
        if (kill && next?.started_at) failovers.push(Date.parse(next.started_at) - kill.at);
      });
    }
    return {
      tasks: o.tasks,
      completed,
      failed,
      unfinished: o.tasks - completed - failed,
      completedTwice,
      kills: counts,
      failover: {
        count: failovers.length,
        minMs: failovers.length ? Math.min(...failovers) : 0,
        medianMs: median(failovers),
        maxMs: failovers.length ? Math.max(...failovers) : 0,
      },
      durationMs: Date.now() - began,
    };
  } finally {
    if (o.serviceLogs) {
      // What each service warned about, with when: where a stall came from.
      const lines = procs.flatMap((p, i) =>
        p.logs.map((l) => ({ at: String(l.timestamp ?? ""), name: labels[i], l })),
      );
      lines.sort((a, b) => a.at.localeCompare(b.at));
      for (const { name, l } of lines) {
        const { timestamp, service, v, pid, hostname, ...rest } = l;
        log(`${String(timestamp)} ${name} ${JSON.stringify(rest)}`);
      }
    }
    await sdk?.close().catch(() => undefined);
    await bus?.nc.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop()));
    await nats.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Tasks the node's last heartbeat said it runs. */
async function runningOn(cluster: Cluster, nodeId: string): Promise<number> {
  const e = await cluster.kv.nodes.get(nodeId).catch(() => null);
  const d = e?.operation === "PUT" ? decode(NodeRecord, e.value) : undefined;
  return d?.ok ? d.value.load.running_tasks : 0;
}

async function countKeys(cluster: Cluster): Promise<number> {
  let n = 0;
  for await (const _ of await cluster.kv.nodes.keys()) n += 1;
  return n;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error("the chaos cluster did not come up in time");
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function retry<T>(work: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** `completed` events per task in the EVENTS stream. */
async function countCompletedEvents(cluster: Cluster, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const consumer = await cluster.js.consumers.get(cluster.names.streams.events, {
    filter_subjects: `${prefix}.evt.task.*.completed`,
  });
  for (;;) {
    const m = await consumer.next({ expires: 2000 });
    if (!m) break;
    const id = m.subject.split(".")[3] as string;
    out.set(id, (out.get(id) ?? 0) + 1);
    if (m.info.pending === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}
