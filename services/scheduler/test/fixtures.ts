import type { TaskSpec } from "@openclaw/protocol";
import { taskSpec } from "@openclaw/testing";
import type { NodeView } from "../src/placement.js";

/** A resolved spec with a fresh id (the testing package's fixture). */
export function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return taskSpec(overrides);
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
