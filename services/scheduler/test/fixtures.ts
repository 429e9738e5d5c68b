import type { TaskSpec } from "@openclaw/protocol";
import type { NodeView } from "../src/placement.js";

let n = 0;

export function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  n += 1;
  return {
    task_id: `t${n}`,
    task_type: "echo",
    name: "echo",
    description: "",
    required_skills: ["echo"],
    optional_skills: [],
    payload: null,
    priority: "normal",
    timeout_ms: 60_000,
    retry: {
      max_attempts: 3,
      backoff: "exponential",
      initial_backoff_ms: 1000,
      max_backoff_ms: 300_000,
      jitter: 0,
    },
    constraints: { labels: {}, zone: null, prefer_zone: null, node: null },
    affinity_key: null,
    idempotency_key: null,
    strategy: null,
    metadata: {},
    user_id: null,
    checkpoint: true,
    ...overrides,
  };
}

export function node(id: string, overrides: Partial<NodeView> & { skillList?: string[] } = {}): NodeView {
  const { skillList, ...rest } = overrides;
  return {
    id,
    labels: {},
    zone: null,
    skills: new Set(skillList ?? ["echo"]),
    capacity: 2,
    inflight: 0,
    unusable: null,
    successRate: 1,
    latencyMs: 0,
    ...rest,
  };
}
