import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { TaskInput } from "@openclaw/cluster";
import { completed, startBullmq } from "../bullmq.js";
import { ChildGroup, childScript } from "../children.js";
import type { Cleanup } from "../cleanup.js";
import { now } from "../clock.js";
import {
  type Contender,
  type Measurement,
  type RowSpec,
  type RunContext,
  type Scenario,
  setup,
} from "../harness.js";
import { startNats } from "../infra.js";
import { servicesAlive, startOurs } from "../ours.js";
import { CpuMeter, nodeProcessOf, rssMb } from "../proc.js";
import { type Log, waitForCount } from "../progress.js";

export interface ThroughputOptions {
  /** Tasks per run. */
  tasks: number;
  /** Worker processes per side. @default 2 */
  workers?: number;
  /** Tasks each worker runs at once. @default 100 */
  concurrency?: number;
  /** Tasks per bulk call (`submitTasks`, `addBulk`) and per publish window. @default 1000 */
  chunk?: number;
  /** A run is given up when completions stop moving this long. @default 60_000 */
  stallMs?: number;
}

function measurement(
  tasks: number,
  times: { start: number; submitted: number; end: number },
  done: number,
  cpu: Record<string, number>,
  workerPids: number[],
): Measurement {
  const totalCpu = Object.values(cpu).reduce((a, b) => a + b, 0);
  const m: Measurement = {
    tasks_per_s: tasks / ((times.end - times.start) / 1000),
    submit_per_s: tasks / ((times.submitted - times.start) / 1000),
    seconds: (times.end - times.start) / 1000,
    completed: done,
    cpu_ms_per_task: (totalCpu * 1000) / tasks,
    // Right after the last completion, before anything is stopped.
    worker_rss_mb: Math.max(...workerPids.map(rssMb)),
  };
  // Where the CPU went, per task, by process group (both workers together).
  for (const [name, seconds] of Object.entries(cpu)) {
    const key = `cpu_ms_${/^worker/.test(name) ? "workers" : name.replace(/-/g, "_")}`;
    m[key] = (m[key] ?? 0) + (seconds * 1000) / tasks;
  }
  return m;
}

/** Every process of a side (the bench too: it submits), to account for their CPU. */
function meter(pids: Record<string, number>): CpuMeter {
  return new CpuMeter({ ...pids, bench: process.pid });
}

function workerPids(group: ChildGroup): Record<string, number> {
  return Object.fromEntries(group.pids().map((pid, i) => [`worker-${i + 1}`, pid]));
}

/** Sizes of the chunks `total` is cut into. */
function chunks(total: number, size: number): number[] {
  const out: number[] = [];
  for (let left = total; left > 0; left -= size) out.push(Math.min(size, left));
  return out;
}

/**
 * The raw JetStream limit's setup: a fresh nats-server, a work-queue stream on file storage with
 * one durable pull consumer shared by `workers` consumer processes, warmed by one message.
 */
async function startRawJetStream(cleanup: Cleanup, workers: number, log: Log) {
  const nats = await startNats(cleanup);
  const nc = await connect({ servers: nats.url, noAsyncTraces: true, name: "bench-publisher" });
  cleanup.defer("publisher connection", () => nc.close());
  const stream = "BENCH_WORK";
  const subject = "bench.work";
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: stream,
    subjects: [subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  // Enough messages in flight for both consumers to never wait on the server.
  await jsm.consumers.add(stream, {
    durable_name: "bench",
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 20_000,
  });
  const group = await ChildGroup.start(
    cleanup,
    childScript("js-consumer"),
    [nats.url, stream, "bench"],
    workers,
  );
  const js = jetstream(nc);
  const body = new TextEncoder().encode("{}");
  await js.publish(subject, body);
  await waitForCount(() => completed(group), 1, { label: "warm-up", log, stallMs: 30_000 });
  group.reset();
  return { nats, group, js, subject, body };
}

/**
 * 1. Throughput: `tasks` no-op tasks submitted in bulk, first submit to last completion, against
 * BullMQ (`addBulk`, same workers and concurrency) and the raw JetStream limit (publish,
 * pull-consume and ack of as many messages through a work-queue stream).
 */
export function throughputScenario(o: ThroughputOptions): Scenario {
  const tasks = o.tasks;
  const workers = o.workers ?? 2;
  const concurrency = o.concurrency ?? 100;
  const chunk = o.chunk ?? 1000;
  const stallMs = o.stallMs ?? 60_000;

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log }: RunContext) {
      const { cluster, completions } = await startOurs(cleanup, {
        workers,
        concurrency,
        log,
        samples: false,
      });
      const batch = (n: number): TaskInput[] => Array.from({ length: n }, () => ({ type: "noop" }));
      const cpu = meter({
        ...Object.fromEntries(cluster.services.map((s) => [s.name, nodeProcessOf(s.proc.pid)])),
        "nats-server": cluster.nats.process.pid ?? -1,
      });
      cpu.start();
      const start = now();
      for (const n of chunks(tasks, chunk)) await cluster.sdk.submitTasks(batch(n));
      const submitted = now();
      log(`submitted ${tasks} in ${((submitted - start) / 1000).toFixed(1)} s`);
      await waitForCount(() => servicesAlive(cluster, completions), tasks, {
        label: "completions",
        log,
        stallMs,
      });
      const end = completions.last;
      const workerPids = cluster.services
        .filter((s) => s.name.startsWith("worker"))
        .map((s) => nodeProcessOf(s.proc.pid));
      return measurement(tasks, { start, submitted, end }, completions.count, cpu.stop(), workerPids);
    },
  };

  const bullmq: Contender = {
    id: "bullmq",
    label: "BullMQ",
    async run({ cleanup, log }: RunContext) {
      const { redis, queue, workers: group } = await startBullmq(cleanup, { workers, concurrency, log });
      const cpu = meter({ ...workerPids(group), "redis-server": redis.pid });
      cpu.start();
      const start = now();
      for (const n of chunks(tasks, chunk)) {
        await queue.addBulk(Array.from({ length: n }, () => ({ name: "noop", data: {} })));
      }
      const submitted = now();
      log(`added ${tasks} in ${((submitted - start) / 1000).toFixed(1)} s`);
      await waitForCount(() => completed(group), tasks, { label: "completions", log, stallMs });
      return measurement(tasks, { start, submitted, end: group.last }, group.count, cpu.stop(), group.pids());
    },
  };

  const raw: Contender = {
    id: "jetstream",
    label: "raw JetStream",
    async run({ cleanup, log }: RunContext) {
      const { nats, group, js, subject, body } = await setup(() => startRawJetStream(cleanup, workers, log));
      const cpu = meter({ ...workerPids(group), "nats-server": nats.process.pid ?? -1 });
      cpu.start();
      const start = now();
      for (const n of chunks(tasks, chunk)) {
        await Promise.all(Array.from({ length: n }, () => js.publish(subject, body)));
      }
      const submitted = now();
      log(`published ${tasks} in ${((submitted - start) / 1000).toFixed(1)} s`);
      await waitForCount(() => completed(group), tasks, { label: "acks", log, stallMs });
      return measurement(tasks, { start, submitted, end: group.last }, group.count, cpu.stop(), group.pids());
    },
  };

  const size = tasks.toLocaleString("en-US");
  return {
    id: "throughput",
    title: "1. Throughput",
    description: [
      `${size} no-op tasks per run, submitted in bulk (chunks of ${chunk.toLocaleString("en-US")}), to ${workers} worker processes at concurrency ${concurrency} each; from the first submit to the last completion.`,
      `**OpenClaw**: \`cluster.submitTasks(chunk)\` through the SDK into a whole cluster (nats-server with file storage; registry, health monitor, scheduler, coordinator and ${workers} workers, each an \`oclaw\` process); a completion is the task's \`completed\` event, seen by a core NATS subscription.`,
      `**BullMQ**: \`queue.addBulk(chunk)\` to a fresh redis-server; ${workers} worker processes with \`concurrency: ${concurrency}\`; a completion is the worker's \`completed\` event.`,
      `**raw JetStream**: the same count published into a work-queue stream (file storage, publishes pipelined per chunk) and pull-consumed (\`consumer.consume\`) and acked by ${workers} processes: the ceiling of any queue built on JetStream.`,
      `"submit rate" is the count divided by the time until the last submit call returned. "CPU per task" adds the CPU time (user + system, from /proc) every process of a side used during the timed window (the bench process included: it submits) and divides by the count; the rows below it say where it went (registry and health monitor: next to nothing).`,
    ].join("\n\n"),
    contenders: [ours, bullmq, raw],
    rows: [
      {
        label: "throughput vs BullMQ",
        unit: "tasks/s",
        ours: { contender: "ours", metric: "tasks_per_s" },
        baseline: { contender: "bullmq", metric: "tasks_per_s" },
        target: { text: "≥ 1.0× BullMQ (goal 1.5×)", met: (a, b) => b !== undefined && a >= b },
      },
      {
        label: "throughput vs raw JetStream",
        unit: "tasks/s",
        ours: { contender: "ours", metric: "tasks_per_s" },
        baseline: { contender: "jetstream", metric: "tasks_per_s" },
        target: { text: "≥ 30% of raw JetStream", met: (a, b) => b !== undefined && a >= 0.3 * b },
      },
      {
        label: "submit rate",
        unit: "tasks/s",
        ours: { contender: "ours", metric: "submit_per_s" },
        baseline: { contender: "bullmq", metric: "submit_per_s" },
      },
      {
        label: "CPU per task (every process)",
        unit: "ms",
        digits: 3,
        ours: { contender: "ours", metric: "cpu_ms_per_task" },
        baseline: { contender: "bullmq", metric: "cpu_ms_per_task" },
      },
      ...(
        [
          ["scheduler", "scheduler"],
          ["workers (both)", "workers"],
          ["coordinator", "coordinator"],
          ["nats-server", "nats_server"],
          ["bench (SDK submit, counting)", "bench"],
        ] as const
      ).map(
        ([label, group]): RowSpec => ({
          label: `CPU per task: ${label}`,
          unit: "ms",
          digits: 3,
          ours: { contender: "ours", metric: `cpu_ms_${group}` },
        }),
      ),
      {
        label: "worker RSS after the run (larger)",
        unit: "MB",
        digits: 1,
        ours: { contender: "ours", metric: "worker_rss_mb" },
        baseline: { contender: "bullmq", metric: "worker_rss_mb" },
      },
      {
        label: "wall time",
        unit: "s",
        digits: 1,
        ours: { contender: "ours", metric: "seconds" },
        baseline: { contender: "bullmq", metric: "seconds" },
      },
    ],
  };
}
