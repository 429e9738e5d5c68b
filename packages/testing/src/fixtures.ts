import { EMPTY_LOAD, EMPTY_STATS, type NodeDescriptor, type NodeRecord } from "@openclaw/protocol";

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
    pending_event: null,
    ...overrides,
  };
}
