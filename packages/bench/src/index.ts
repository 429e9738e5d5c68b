/**
 * The benchmark suite's parts, for `main.ts` (`npm run bench`) and for the test that runs every
 * scenario at a tiny size so the bench code cannot rot.
 *
 * ```ts
 * const result = await runScenario(throughputScenario({ tasks: 300 }), { runs: 1, log: silentLog });
 * console.log(renderText(summarize(result)));
 * ```
 */

export { readTaskRecords } from "./bus.js";
export { Cleanup, closeEverything } from "./cleanup.js";
export { now } from "./clock.js";
export { BenchFlags, parseFlags } from "./flags.js";
export {
  type Contender,
  type ContenderRuns,
  type Measurement,
  type MetricRef,
  type RowSpec,
  type RunContext,
  type RunOptions,
  runScenario,
  type Scenario,
  type ScenarioResult,
  SetupError,
  setup,
} from "./harness.js";
export {
  type OurCluster,
  safePort,
  startNats,
  startOurCluster,
  startRedis,
  writeNoopSkill,
} from "./infra.js";
export { type PlacementBenchOptions, type PlacementBenchResult, placementBench } from "./placement.js";
export { CpuMeter, cpuSeconds, nodeProcessOf, rssMb } from "./proc.js";
export { type Log, silentLog, stderrLog } from "./progress.js";
export { buildScenario, SCENARIO_IDS, type ScenarioId } from "./registry.js";
export { describeEnvironment, readSections, renderDocument, writeDocument } from "./report.js";
export { type ApiOptions, apiScenario } from "./scenarios/api.js";
export { type FailoverOptions, failoverScenario } from "./scenarios/failover.js";
export { type LatencyOptions, latencyScenario } from "./scenarios/latency.js";
export { type MemoryOptions, memoryScenario } from "./scenarios/memory.js";
export { type ScaleOptions, scaleScenario } from "./scenarios/scale.js";
export { type ThroughputOptions, throughputScenario } from "./scenarios/throughput.js";
export {
  quantile,
  renderMarkdown,
  renderText,
  type Stat,
  stat,
  summarize,
  type Table,
  type TableRow,
} from "./table.js";
