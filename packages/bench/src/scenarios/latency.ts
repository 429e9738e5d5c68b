import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { completed, startBullmq } from "../bullmq.js";
import { now, sleep } from "../clock.js";
import type { Contender, Measurement, RunContext, Scenario } from "../harness.js";
import { servicesAlive, startOurs } from "../ours.js";
import { waitForCount } from "../progress.js";
import { quantile } from "../table.js";

export interface LatencyOptions {
  /** Submissions per second. */
  rate: number;
  /** For how long. */
  seconds: number;
  /** @default 2 */
  workers?: number;
  /** @default 100 */
  concurrency?: number;
  /** @default 60_000 */
  stallMs?: number;
}

/**
 * Submits `total` tasks one by one on a fixed schedule (open loop: the i-th goes out at
 * start + i/rate whether or not earlier ones were answered, so a slow system cannot slow the
 * offered load and hide its own queueing). `submit` gets the time it was called, for the payload.
 */
async function atRate(rate: number, total: number, submit: (s: number) => Promise<unknown>) {
  const pending: Promise<unknown>[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  for (let i = 0; i < total; ) {
    const wait = start + (i * 1000) / rate - performance.now();
    // Always yield, even when behind schedule: the submits just made need the event loop to go
    // out at all (a loop that never yields holds every one of them until it ends). A timer, not
    // setImmediate: spinning through the event loop until the next slot took a third of a core
    // from the system under test. A submit made up to a timer tick late is timed from its call.
    if (wait >= 1) await sleep(Math.floor(wait));
    else if (wait > 0) await sleep(1);
    else await yieldToEventLoop();
    // Everything due by now goes out, each stamped with its own submit time.
    while (i < total && start + (i * 1000) / rate <= performance.now()) {
      pending.push(
        submit(now()).catch((err: Error) => {
          errors += 1;
          firstError ??= err.message;
        }),
      );
      i += 1;
    }
  }
  const offeredFor = performance.now() - start;
  await Promise.all(pending);
  return { errors, firstError, rate: (total / offeredFor) * 1000 };
}

function measurement(samples: [number, number][], achievedRate: number, done: number): Measurement {
  const latencies = samples.map(([s, t]) => t - s);
  return {
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
    max_ms: latencies.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    offered_per_s: achievedRate,
    completed: done,
  };
}

/**
 * 2. Latency: `rate` tasks per second for `seconds`, submitted one by one; from the submit call to
 * the start of the handler (the skill's first line), p50 / p99 / max. Ours against BullMQ's `queue.add`.
 */
export function latencyScenario(o: LatencyOptions): Scenario {
  const total = Math.max(1, Math.round(o.rate * o.seconds));
  const workers = o.workers ?? 2;
  const concurrency = o.concurrency ?? 100;
  const stallMs = o.stallMs ?? 60_000;

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log }: RunContext) {
      const { cluster, completions } = await startOurs(cleanup, { workers, concurrency, log, samples: true });
      const sent = await atRate(o.rate, total, (s) =>
        cluster.sdk.submitTask({ type: "noop", payload: { s } }),
      );
      if (sent.errors > 0) throw new Error(`${sent.errors} of ${total} submits failed: ${sent.firstError}`);
      await waitForCount(() => servicesAlive(cluster, completions), total, {
        label: "completions",
        log,
        stallMs,
      });
      if (completions.malformed > 0) throw new Error(`${completions.malformed} results without timestamps`);
      return measurement(completions.samples, sent.rate, completions.count);
    },
  };

  const bullmq: Contender = {
    id: "bullmq",
    label: "BullMQ",
    async run({ cleanup, log }: RunContext) {
      const { queue, workers: group } = await startBullmq(cleanup, { workers, concurrency, log });
      const sent = await atRate(o.rate, total, (s) => queue.add("noop", { s }));
      if (sent.errors > 0) throw new Error(`${sent.errors} of ${total} adds failed: ${sent.firstError}`);
      await waitForCount(() => completed(group), total, { label: "completions", log, stallMs });
      // The last batch of samples comes with the last completions; both are in by now.
      if (group.samples.length !== total)
        throw new Error(`${group.samples.length} samples for ${total} jobs`);
      return measurement(group.samples, sent.rate, group.count);
    },
  };

  return {
    id: "latency",
    title: "2. Latency",
    description: [
      `${o.rate.toLocaleString("en-US")} tasks/s for ${o.seconds} s (${total.toLocaleString("en-US")} tasks per run), each submitted on its own on a fixed schedule (open loop), to ${workers} worker processes at concurrency ${concurrency}; latency from the submit call to the start of the no-op handler.`,
      "Both times are `performance.timeOrigin + performance.now()`, taken in the bench and in the handler (a skill thread of a worker, a BullMQ worker process); on one machine they share the system clock.",
      "**OpenClaw**: `cluster.submitTask(task)` through the SDK (resolves once JetStream stored the submission); the scheduler places it, a worker pulls it and runs the skill in a pooled thread.",
      "**BullMQ**: `queue.add(name, data)`; the workers block on Redis for the next job.",
    ].join("\n\n"),
    contenders: [ours, bullmq],
    rows: [
      {
        label: "p50",
        unit: "ms",
        digits: 2,
        ours: { contender: "ours", metric: "p50_ms" },
        baseline: { contender: "bullmq", metric: "p50_ms" },
        target: { text: "≤ 2 ms", met: (a) => a <= 2 },
      },
      {
        label: "p99",
        unit: "ms",
        digits: 2,
        ours: { contender: "ours", metric: "p99_ms" },
        baseline: { contender: "bullmq", metric: "p99_ms" },
        target: { text: "≤ 25 ms", met: (a) => a <= 25 },
      },
      {
        label: "max",
        unit: "ms",
        digits: 1,
        ours: { contender: "ours", metric: "max_ms" },
        baseline: { contender: "bullmq", metric: "max_ms" },
      },
      {
        label: "offered rate",
        unit: "tasks/s",
        ours: { contender: "ours", metric: "offered_per_s" },
        baseline: { contender: "bullmq", metric: "offered_per_s" },
      },
    ],
  };
}
