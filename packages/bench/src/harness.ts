import { Cleanup } from "./cleanup.js";
import { sleep } from "./clock.js";
import type { Log } from "./progress.js";

/** What one contender measured in one run: metric name → value (`tasks_per_s`, `p99_ms`, ...). */
export type Measurement = Record<string, number>;

export interface RunContext {
  /** Everything the run starts goes here; the harness closes it after the run, whatever happened. */
  cleanup: Cleanup;
  log: Log;
  /** 1-based. */
  run: number;
}

/** One side of a comparison: our cluster, BullMQ, raw JetStream, ... */
export interface Contender {
  /** Short id, referred to by rows: `ours`, `bullmq`, `jetstream`. */
  id: string;
  /** As shown in tables: `OpenClaw`, `BullMQ`. */
  label: string;
  /** One measurement on fresh infrastructure; throws if the run could not be measured. */
  run(ctx: RunContext): Promise<Measurement>;
}

/** A metric of one contender. */
export interface MetricRef {
  contender: string;
  metric: string;
}

/** A table row: ours against a baseline (or alone), with the target it is held to. */
export interface RowSpec {
  label: string;
  /** Shown after the figures: `tasks/s`, `ms`, `MB`. */
  unit: string;
  /** Decimals shown. @default 0 */
  digits?: number;
  ours: MetricRef;
  baseline?: MetricRef;
  target?: {
    text: string;
    /** Whether the medians meet it. */
    met(ours: number, baseline: number | undefined): boolean;
  };
}

/**
 * A benchmark scenario. The harness runs its contenders in order, `runs` times, interleaved
 * (ours, baseline, ours, ...), each on fresh infrastructure, so drift of the machine hits every
 * side alike. New scenarios (failover, API, scale) are one more `Scenario` in `registry.ts`.
 */
export interface Scenario {
  /** As given to `--scenarios`. */
  id: string;
  /** `1. Throughput`. */
  title: string;
  /** What is measured and how, for docs/benchmarks.md. */
  description: string;
  contenders: Contender[];
  rows: RowSpec[];
}

export interface ContenderRuns {
  measurements: Measurement[];
  /** One line per failed run. */
  errors: string[];
  /** One line per setup that failed and was tried again (the run itself may have succeeded). */
  retries: string[];
}

/**
 * Infrastructure that did not come up (a server, a cluster, a worker process): nothing was
 * measured yet, so the harness tries the run once more on fresh infrastructure.
 */
export class SetupError extends Error {
  override readonly name = "SetupError";
}

/** Runs a contender's setup; whatever it throws becomes a `SetupError`. */
export async function setup<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new SetupError(`setup failed: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
}

export interface ScenarioResult {
  scenario: Scenario;
  runs: number;
  /** By contender id. */
  results: Record<string, ContenderRuns>;
  durationMs: number;
}

export interface RunOptions {
  runs: number;
  log: Log;
  /** Checked between runs: once aborted, no new run starts. */
  signal?: AbortSignal;
  /** Pause between two runs, for the machine to settle (processes gone, sockets closed). @default 1000 */
  settleMs?: number;
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const started = Date.now();
  const results: Record<string, ContenderRuns> = {};
  for (const c of scenario.contenders) results[c.id] = { measurements: [], errors: [], retries: [] };
  for (let run = 1; run <= options.runs; run++) {
    for (const contender of scenario.contenders) {
      if (options.signal?.aborted) break;
      const log: Log = (line) =>
        options.log(`${scenario.id} ${run}/${options.runs} ${contender.label}: ${line}`);
      const into = results[contender.id] as ContenderRuns;
      for (let attempt = 1; attempt <= 2; attempt++) {
        const failed = await runOnce(contender, run, log, into);
        if (!(failed instanceof SetupError) || attempt === 2 || options.signal?.aborted) {
          if (failed) into.errors.push(`run ${run}: ${failed.message}`);
          break;
        }
        into.retries.push(`run ${run}: ${failed.message}`);
        log("trying once more on fresh infrastructure");
        await sleep(options.settleMs ?? 1000);
      }
      await sleep(options.settleMs ?? 1000);
    }
  }
  return { scenario, runs: options.runs, results, durationMs: Date.now() - started };
}

/** One run of a contender on infrastructure of its own, always torn down; returns its error, if any. */
async function runOnce(
  contender: Contender,
  run: number,
  log: Log,
  into: ContenderRuns,
): Promise<Error | undefined> {
  const cleanup = new Cleanup();
  log("starting");
  try {
    const m = await contender.run({ cleanup, log, run });
    into.measurements.push(m);
    log(
      `done: ${Object.entries(m)
        .map(([k, v]) => `${k}=${round(v)}`)
        .join(" ")}`,
    );
    return undefined;
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    log(`FAILED: ${error.message}`);
    return error;
  } finally {
    const stopping = Date.now();
    await cleanup.close(log);
    const took = Date.now() - stopping;
    if (took > 5000) log(`stopping everything took ${(took / 1000).toFixed(1)} s`);
  }
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100;
}
