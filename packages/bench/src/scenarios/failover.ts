import { type Cluster, readLeaders } from "@openclaw/bus";
import type { TaskInput } from "@openclaw/cluster";
import type { TaskRecord } from "@openclaw/protocol";
import { bindBus, readTaskRecords } from "../bus.js";
import { now, sleep } from "../clock.js";
import { Completions } from "../completions.js";
import { effectiveConfig, seconds } from "../config.js";
import {
  type Contender,
  type Measurement,
  type RowSpec,
  type RunContext,
  type Scenario,
  setup,
} from "../harness.js";
import { type OurCluster, schedulerInstance, startOurCluster } from "../infra.js";
import { checkServices } from "../ours.js";
import { type Log, polled, waitForCount } from "../progress.js";
import { stat } from "../table.js";

export interface FailoverOptions {
  /** Checkpointed tasks running on the worker that is killed. */
  tasks: number;
  /** Each task sleeps this long in all (the example skill `sleep`)... @default 60_000 */
  taskMs?: number;
  /** ...in this many checkpointed steps. @default 20 */
  steps?: number;
  /**
   * More environment for every service, over the product defaults and the 1 s heartbeat tuning
   * (BASE_ENV).
   */
  env?: Record<string, string>;
}

/**
 * A cluster tuned for 1 s heartbeats, as the target assumes: a node is offline after 3 missed
 * heartbeats, checked every half second, or after 2 if nobody answers its ping. (With the
 * product's defaults, 5 s heartbeats, pings after 10 s and a 90 s timeout, a dead worker is
 * noticed after about 10 s: the detection, not the failover, would be measured.)
 */
const BASE_ENV = {
  OPENCLAW_HEARTBEAT_INTERVAL: "1s",
  OPENCLAW_HEARTBEAT_TIMEOUT: "3s",
  OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "500ms",
  OPENCLAW_UNREACHABLE_TIMEOUT: "2s",
};

async function schedulerLeader(bus: Cluster): Promise<string | undefined> {
  return (await readLeaders(bus, ["scheduler"])).leaders.scheduler?.holder;
}

/**
 * Scheduler takeover: SIGKILLs the leading scheduler, submits a no-op task at once, and times
 * (from the kill) the lease changing hands and that task's completion.
 */
async function takeover(
  cluster: OurCluster,
  bus: Cluster,
  completions: Completions,
  timeoutMs: number,
  log: Log,
) {
  const holder = await schedulerLeader(bus);
  const n = [1, 2].find((i) => schedulerInstance(i) === holder);
  if (n === undefined) throw new Error(`no bench scheduler leads (lease holder: ${holder ?? "none"})`);
  const name = n === 1 ? "scheduler" : `scheduler-${n}`;
  const victim = cluster.services.find((s) => s.name === name);
  if (!victim) throw new Error(`no service ${name}`);
  completions.reset();
  victim.proc.kill("SIGKILL");
  const killedAt = now();
  log(`SIGKILL scheduler leader ${holder}`);
  await cluster.sdk.submitTask({ type: "noop" });
  let leaderAt: number | undefined;
  const deadline = killedAt + timeoutMs;
  while (leaderAt === undefined || completions.count < 1) {
    checkServices(cluster, new Set([name]));
    if (now() > deadline) {
      throw new Error(
        `scheduler takeover: ${leaderAt === undefined ? "no new leader" : "the task did not complete"} within ${seconds(timeoutMs)} of the kill`,
      );
    }
    if (leaderAt === undefined) {
      const h = await schedulerLeader(bus).catch(() => holder);
      if (h && h !== holder) leaderAt = now();
    }
    await sleep(20);
  }
  const m = { leader_ms: leaderAt - killedAt, task_ms: completions.last - killedAt };
  log(
    `new leader after ${seconds(Math.round(m.leader_ms))}, task done after ${seconds(Math.round(m.task_ms))}`,
  );
  return { killed: name, ...m };
}

/** For each task: from the kill to its next attempt's start, if an attempt on `nodeId` was lost. */
function failoverTimes(records: TaskRecord[], nodeId: string, killedAt: number): number[] {
  const out: number[] = [];
  for (const r of records) {
    const i = r.attempts.findIndex((a) => a.node_id === nodeId && a.status === "lost");
    const next = i >= 0 ? r.attempts[i + 1] : undefined;
    if (next?.started_at) out.push(Date.parse(next.started_at) - killedAt);
  }
  return out;
}

/**
 * 3. Failover: our cluster with two schedulers and, at first, one worker. The leading scheduler
 * is SIGKILLed (takeover); then `tasks` checkpointed tasks run on the worker, a second worker
 * joins, and the first is SIGKILLed: from the kill to each task running again on the second.
 */
export function failoverScenario(o: FailoverOptions): Scenario {
  const tasks = o.tasks;
  const taskMs = o.taskMs ?? 60_000;
  const steps = o.steps ?? 20;
  const env = { ...BASE_ENV, ...o.env };
  const cfg = effectiveConfig(env);
  const electionMs = cfg.cluster.election_timeout;
  const detectMs = cfg.coordinator.heartbeat_timeout + cfg.coordinator.heartbeat_check_interval;
  // A dead worker is noticed only after the heartbeat timeout, and a moved task then runs what is
  // left of it: no completion for that long is normal.
  const stallMs = detectMs + taskMs + 30_000;

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log, run }: RunContext): Promise<Measurement> {
      const { cluster, bus, completions } = await setup(async () => {
        const cluster = await startOurCluster(cleanup, {
          workers: 1,
          concurrency: tasks,
          log,
          env,
          schedulers: 2,
          exampleSkills: ["sleep"],
        });
        const bus = await bindBus(cleanup, cluster);
        const completions = await Completions.watch(cleanup, cluster.nats.url, cluster.names, {
          samples: false,
        });
        return { cluster, bus, completions };
      });

      const t = await takeover(cluster, bus, completions, electionMs + 30_000, log);
      const killed = new Set([t.killed]);

      // Every task running on the first worker before the second exists.
      const ids = Array.from({ length: tasks }, (_, i) => `failover-${run}-${i}`);
      const input = (id: string): TaskInput => ({
        id,
        type: "sleep",
        payload: { ms: taskMs, steps },
        checkpoint: true,
      });
      completions.reset();
      for (let i = 0; i < ids.length; i += 1000)
        await cluster.sdk.submitTasks(ids.slice(i, i + 1000).map(input));
      const running = polled(
        async () =>
          (await readTaskRecords(bus, ids)).filter(
            (r) => r.status === "running" && r.assigned_node === "bench-w1",
          ).length,
        500,
      );
      try {
        await waitForCount(
          () => {
            checkServices(cluster, killed);
            if (completions.count > 0)
              throw new Error("a task ended before the worker was killed: make taskMs longer");
            return running.value();
          },
          tasks,
          { label: "tasks running on bench-w1", log, stallMs: 60_000 },
        );
      } finally {
        running.stop();
      }
      const second = await cluster.addWorker();
      const online = polled(async () => (await cluster.sdk.getStatus()).activeNodes, 500);
      await waitForCount(
        () => {
          checkServices(cluster, killed);
          return online.value();
        },
        2,
        { label: "workers online", log, stallMs: 30_000 },
      ).finally(() => online.stop());
      const before = await readTaskRecords(bus, ids);
      const runningAtKill = before.filter(
        (r) => r.status === "running" && r.assigned_node === "bench-w1",
      ).length;
      if (runningAtKill < tasks)
        throw new Error(`only ${runningAtKill} of ${tasks} tasks still ran on bench-w1: make taskMs longer`);

      const first = cluster.services.find((s) => s.name === "worker-1");
      first?.proc.kill("SIGKILL");
      killed.add("worker-1");
      // Wall clock: the records' started_at is an ISO time.
      const killedAt = Date.now();
      log(`SIGKILL worker bench-w1 with ${runningAtKill} tasks running; ${second.nodeId} takes over`);
      // Detection alone: the health monitor's log line (its `timestamp`, wall clock) that the node is offline.
      const monitor = cluster.services.find((s) => s.name === "health-monitor");
      const offline = monitor?.proc.waitForLog(
        (l) => l.message === "node offline" && l.node_id === "bench-w1",
        stallMs,
      );
      await waitForCount(
        () => {
          checkServices(cluster, killed);
          return completions.count;
        },
        tasks,
        { label: "tasks completed after the kill", log, stallMs },
      );
      const records = await readTaskRecords(bus, ids);
      const completed = records.filter((r) => r.status === "completed").length;
      if (completed !== tasks) throw new Error(`${completed} of ${tasks} tasks completed`);
      const offlineLine = await offline;
      const detectS = (Date.parse(String(offlineLine?.timestamp)) - killedAt) / 1000;
      log(
        `bench-w1 declared offline ${detectS.toFixed(2)} s after the kill (${String(offlineLine?.reason)})`,
      );
      const times = failoverTimes(records, "bench-w1", killedAt);
      const s = stat(times);
      if (!s) throw new Error(`no task's record shows a lost attempt on bench-w1 and a later start`);
      return {
        tasks,
        completed,
        failed_over: times.length,
        detect_s: detectS,
        failover_min_s: s.min / 1000,
        failover_median_s: s.median / 1000,
        failover_max_s: s.max / 1000,
        leader_s: t.leader_ms / 1000,
        takeover_task_s: t.task_ms / 1000,
      };
    },
  };
  const takeoverTarget = {
    text: `≤ ${seconds(electionMs + 1000)} (election timeout + 1 s)`,
    met: (a: number) => a * 1000 <= electionMs + 1000,
  };
  const all = { text: `all ${tasks.toLocaleString("en-US")}`, met: (a: number) => a === tasks };
  const overridden = Object.entries(env)
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(", ");
  return {
    id: "failover",
    title: "3. Failover",
    description: [
      `Our cluster (nats-server, registry, health monitor, coordinator, **two schedulers**, workers), each an \`oclaw\` process with the product's defaults except ${overridden}: a worker whose heartbeats stop is pinged once its last one is \`health.unreachable_timeout\` (${seconds(cfg.health.unreachable_timeout)}) old, and declared offline at once if nobody answers on its subject (a dead process leaves no subscription), else after \`coordinator.heartbeat_timeout\` (${seconds(cfg.coordinator.heartbeat_timeout)}), checked every \`heartbeat_check_interval\` (${seconds(cfg.coordinator.heartbeat_check_interval)}); a leader's lease lapses after \`cluster.election_timeout\` (${seconds(electionMs)}), a standby tries to take it every \`lease_renew_interval\` (${seconds(cfg.cluster.lease_renew_interval)}).`,
      "**Scheduler takeover**: the leading scheduler (the `scheduler` lease holder, by `readLeaders`) is SIGKILLed and a no-op task submitted right after; from the kill to the lease held by the other scheduler (read every 20 ms), and to that task's `completed` event.",
      `**Worker failover**: ${tasks.toLocaleString("en-US")} tasks of the example skill \`sleep\` (${seconds(taskMs)} in ${steps} checkpointed steps) all run on one worker (\`--max-concurrent-tasks ${tasks}\`); a second worker joins, then the first is SIGKILLed. For each task, from the kill to the start of its next attempt (\`started_at\` of the attempt after the lost one, in its record in the \`tasks\` bucket); every task must complete (resuming from its last checkpoint). Expect the unreachable timeout less the part of a heartbeat interval that had passed at the kill, plus up to one ping scan (250 ms): the scheduler moves a task once the health monitor declares its node offline.`,
      "No baseline: ours only.",
    ].join("\n\n"),
    contenders: [ours],
    rows: [
      {
        label: "scheduler takeover: new leader",
        unit: "s",
        digits: 2,
        ours: { contender: "ours", metric: "leader_s" },
        target: takeoverTarget,
      },
      {
        label: "scheduler takeover: task submitted at the kill done",
        unit: "s",
        digits: 2,
        ours: { contender: "ours", metric: "takeover_task_s" },
        target: takeoverTarget,
      },
      {
        label: "tasks failed over",
        unit: "tasks",
        ours: { contender: "ours", metric: "failed_over" },
        target: all,
      },
      {
        label: "tasks completed",
        unit: "tasks",
        ours: { contender: "ours", metric: "completed" },
        target: all,
      },
      {
        label: "detection (kill → node declared offline)",
        unit: "s",
        digits: 2,
        ours: { contender: "ours", metric: "detect_s" },
      },
      ...(["min", "median", "max"] as const).map(
        (q): RowSpec => ({
          label: `failover ${q} (kill → running elsewhere)`,
          unit: "s",
          digits: 1,
          ours: { contender: "ours", metric: `failover_${q}_s` },
          ...(q === "median" ? { target: { text: "≤ 3 s", met: (a: number) => a <= 3 } } : {}),
        }),
      ),
    ],
  };
}
