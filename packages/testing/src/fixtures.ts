import {
  EMPTY_LOAD,
  EMPTY_STATS,
  type NodeDescriptor,
  type NodeRecord,
  type TaskRecord,
  type TaskSpec,
} from "@openclaw/protocol";

const EPOCH = "2026-01-01T00:00:00.000Z";

/** A valid node descriptor, for tests; override any field. */
export function nodeDescriptor(id = "w1", overrides: Partial<NodeDescriptor> = {}): NodeDescriptor {
  return {
    node_id: id,
    session: `s-${id}`,
    hostname: `${id}.local`,
    platform: "linux",
    arch: "x64",
    ip_address: "10.0.0.1",
    tailscale_ip: null,
    port: 18789,
    max_concurrent_tasks: 5,
    heartbeat_interval_ms: 1000,
    labels: {},
    zone: null,
    skills: [],
    agent_version: "0.1.0",
    started_at: EPOCH,
    ...overrides,
  };
}

/** A valid `nodes` KV value for an active node, for tests; override any field. */
export function nodeRecord(
  node: NodeDescriptor = nodeDescriptor(),
  overrides: Partial<NodeRecord> = {},
): NodeRecord {
  return {
    node,
    state: "active",
    registered_at: EPOCH,
    last_heartbeat: EPOCH,
    left_at: null,
    load: EMPTY_LOAD,
    stats: EMPTY_STATS,
    membership_seq: 1,
    heartbeat_seq: 0,
    drain: null,
    drain_seq: 0,
    pending_event: null,
    ...overrides,
  };
}

let taskCounter = 0;

/** A valid, fully resolved task spec (as the scheduler stores it), for tests; override any field. */
export function taskSpec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  taskCounter += 1;
  return {
    task_id: `t${taskCounter}`,
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

/** A valid `tasks` KV value, pending by default, for tests; override any field. */
export function taskRecord(spec: TaskSpec = taskSpec(), overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    spec,
    status: "pending",
    attempt: 0,
    assigned_node: null,
    submitted_at: EPOCH,
    scheduled_at: null,
    started_at: null,
    completed_at: null,
    next_attempt_at: null,
    waiting_reason: null,
    progress: null,
    attempts: [],
    result: null,
    error: null,
    cancel_requested: false,
    ...overrides,
  };
}
