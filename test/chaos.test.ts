import { expect, it } from "vitest";
import { runChaos } from "./chaos/chaos.js";

// The short chaos run (the full one is `npm run chaos`): a 3-node NATS cluster, four workers
// SIGKILLed at random, the leading scheduler SIGKILLed, one NATS node SIGKILLed and restarted.
it("under SIGKILLed workers, scheduler and NATS node, every task ends, none lost, each completed exactly once", async () => {
  const lines: string[] = [];
  const report = await runChaos({
    tasks: 60,
    workers: 4,
    concurrency: 6,
    taskMs: 3000,
    steps: 6,
    workerKillEveryMs: 3000,
    workerDownMs: 2000,
    maxWorkerKills: 4,
    schedulerKillAtMs: 3000,
    natsKillAtMs: 6000,
    natsDownMs: 5000,
    // Room for a slow machine: a takeover that fails while NATS elects stream leaders costs a
    // re-election (docs/reliability.md).
    timeoutMs: 200_000,
    serviceLogs: Boolean(process.env.CHAOS_VERBOSE),
    log: (line) => {
      lines.push(line);
      if (process.env.CHAOS_VERBOSE) process.stderr.write(`[chaos] ${line}\n`);
    },
  });
  console.log(`[chaos] ${JSON.stringify(report)}\n${lines.join("\n")}`);
  expect(report, lines.join("\n")).toMatchObject({ unfinished: 0, completedTwice: 0 });
  expect(report.completed).toBe(60);
  expect(report.kills.schedulers).toBe(1);
  expect(report.kills.nats).toBe(1);
  expect(report.kills.workers).toBeGreaterThan(0);
  expect(report.failover.count).toBeGreaterThan(0);
}, 260_000);
