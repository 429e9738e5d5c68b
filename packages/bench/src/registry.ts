import type { Scenario } from "./harness.js";
import { apiScenario } from "./scenarios/api.js";
import { failoverScenario } from "./scenarios/failover.js";
import { latencyScenario } from "./scenarios/latency.js";
import { memoryScenario } from "./scenarios/memory.js";
import { scaleScenario } from "./scenarios/scale.js";
import { throughputScenario } from "./scenarios/throughput.js";

/**
 * Every scenario `--scenarios` can name, in the order they run and are reported. To add one:
 * write its `Scenario` in scenarios/, add its id here and a case below (and any sizing flags in
 * flags.ts).
 */
export const SCENARIO_IDS = ["throughput", "latency", "failover", "api", "scale", "memory"] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** The sizes scenarios take from the command line. */
export interface ScenarioSizes {
  tasks: number;
  rate: number;
  seconds: number;
  /** Failover: checkpointed tasks on the worker that is killed. */
  failoverTasks: number;
  /** API and scale: simulated nodes. */
  nodes: number;
  /** API: seconds of load per endpoint. */
  apiSeconds: number;
  /** Scale: seconds the simulated nodes are watched. */
  scaleSeconds: number;
  /** Scale: tasks queued in the scheduler. */
  queuedTasks: number;
}

export function buildScenario(id: ScenarioId, sizes: ScenarioSizes): Scenario {
  switch (id) {
    case "throughput":
      return throughputScenario({ tasks: sizes.tasks });
    case "latency":
      return latencyScenario({ rate: sizes.rate, seconds: sizes.seconds });
    case "failover":
      return failoverScenario({ tasks: sizes.failoverTasks });
    case "api":
      return apiScenario({ nodes: sizes.nodes, seconds: sizes.apiSeconds });
    case "scale":
      return scaleScenario({ nodes: sizes.nodes, seconds: sizes.scaleSeconds, queued: sizes.queuedTasks });
    case "memory":
      return memoryScenario();
  }
}
