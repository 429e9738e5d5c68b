import type { HealthState, NodeEventKind } from "@openclaw/protocol";
import type { NodeStatus } from "../status.js";

/** One row of `nodes`, as SQLite returns it (JSON columns still as text). */
export interface NodeRow {
  node_id: string;
  session: string;
  hostname: string;
  platform: string;
  arch: string;
  ip_address: string | null;
  tailscale_ip: string | null;
  port: number;
  max_concurrent_tasks: number;
  heartbeat_interval_ms: number;
  /** JSON object of labels. */
  labels: string;
  zone: string | null;
  /** JSON array of `{ name, version, description }`. */
  skills: string;
  agent_version: string;
  started_at: string;
  state: "active" | "left";
  health: HealthState | null;
  health_reason: string | null;
  health_since: string | null;
  health_checked_at: string | null;
  missed_heartbeats: number;
  cpu_usage: number;
  memory_usage: number;
  disk_usage: number;
  running_tasks: number;
  total_tasks_processed: number;
  successful_tasks: number;
  failed_tasks: number;
  average_execution_time: number;
  registered_at: string;
  last_heartbeat: string | null;
  left_at: string | null;
  status: NodeStatus;
}

/** One stored node event; `data` holds the event's own fields (not the envelope). */
export interface EventRow {
  seq: number;
  node_id: string;
  kind: NodeEventKind;
  at: string;
  /** JSON object. */
  data: string;
}

/** Per-status totals of the node table, for the cluster health answer. */
export interface StatusTotals {
  status: NodeStatus;
  count: number;
  /** Sum of `max_concurrent_tasks`. */
  capacity: number;
  /** Sum of `min(running_tasks, max_concurrent_tasks)`: slots taken. */
  used: number;
  /** Nodes offline because heartbeats timed out (not because they left). */
  timed_out: number;
}
