import { writeFileSync } from "node:fs";
import { type ChaosOptions, type ChaosReport, runChaos } from "./chaos.js";

/**
 * `npm run chaos`: the full chaos run. Sizes can be changed with environment variables
 * (CHAOS_TASKS, CHAOS_WORKERS, CHAOS_TIMEOUT_MS); the report is printed and written to
 * CHAOS_REPORT (default chaos-report.json) when set.
 */
const setting = (name: string) => process.env[name];
const num = (name: string, fallback: number) => {
  const v = Number(setting(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const options: ChaosOptions = {
  tasks: num("CHAOS_TASKS", 600),
  workers: num("CHAOS_WORKERS", 4),
  concurrency: 10,
  taskMs: 3000,
  steps: 10,
  workerKillEveryMs: 5000,
  workerDownMs: 3000,
  schedulerKillAtMs: 8000,
  natsKillAtMs: 15_000,
  natsDownMs: 8000,
  timeoutMs: num("CHAOS_TIMEOUT_MS", 600_000),
  log: (line) => process.stdout.write(`[${new Date().toISOString().slice(11, 23)}] ${line}\n`),
};

function print(r: ChaosReport): void {
  const rows: [string, string][] = [
    ["tasks", String(r.tasks)],
    ["completed", String(r.completed)],
    ["failed (terminal, not completed)", String(r.failed)],
    ["unfinished (lost)", String(r.unfinished)],
    ["completed more than once", String(r.completedTwice)],
    ["workers killed", String(r.kills.workers)],
    ["schedulers killed", String(r.kills.schedulers)],
    ["NATS nodes killed", String(r.kills.nats)],
    ["attempts failed over", String(r.failover.count)],
    ["failover min / median / max", `${r.failover.minMs} / ${r.failover.medianMs} / ${r.failover.maxMs} ms`],
    ["duration", `${(r.durationMs / 1000).toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}

const report = await runChaos(options);
print(report);
const reportFile = setting("CHAOS_REPORT");
if (reportFile)
  writeFileSync(
    reportFile,
    `${JSON.stringify({ options: { ...options, log: undefined }, report }, null, 2)}\n`,
  );
const ok =
  report.unfinished === 0 && report.completedTwice === 0 && report.completed + report.failed === report.tasks;
process.stdout.write(ok ? "chaos run: PASS\n" : "chaos run: FAIL\n");
process.exit(ok ? 0 : 1);
