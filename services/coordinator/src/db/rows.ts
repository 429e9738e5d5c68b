import type {
  HealthState,
  NodeEventKind,
  PlacementStrategy,
  Priority,
  TaskEventKind,
  TaskStatus,
} from "@openclaw/protocol";
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
  /** JSON `{ since, reason, session }` while drained. */
  drain: string | null;
  /** JSON breaker record of the scheduler, if it has one for the node. */
  breaker: string | null;
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

/** One row of `tasks`, as SQLite returns it (JSON columns still as text). */
export interface TaskRow {
  task_id: string;
  task_type: string;
  name: string;
  description: string;
  /** JSON array. */
  required_skills: string;
  /** JSON array. */
  optional_skills: string;
  status: TaskStatus;
  priority: Priority;
  assigned_node: string | null;
  submitted_at: string;
  scheduled_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  /** JSON, or null when the coordinator never saw the payload. */
  payload: string | null;
  timeout_ms: number;
  retry_count: number;
  max_retries: number;
  /** JSON RetryPolicy. */
  retry_policy: string;
  user_id: string | null;
  /** JSON array. */
  affinity_tags: string;
  /** JSON, or null before the task completed. */
  result: string | null;
  /** JSON TaskError. */
  error: string | null;
  /** JSON object. */
  metadata: string;
  attempt: number;
  /** JSON array of AttemptRecord. */
  attempts: string;
  /** JSON `{ percent, message }`. */
  progress: string | null;
  waiting_reason: string | null;
  next_attempt_at: string | null;
  /** JSON TaskConstraints. */
  constraints: string;
  affinity_key: string | null;
  idempotency_key: string | null;
  strategy: PlacementStrategy | null;
  checkpoint: 0 | 1;
  cancel_requested: 0 | 1;
  /** EVENTS stream sequence of the snapshot in the row; 0 when the API wrote it at submission. */
  updated_seq: number;
  updated_at: string;
}

/** A task as the list returns it: without the payload and the result, which may be large. */
export type TaskListRow = Omit<TaskRow, "payload" | "result">;

/** One stored task event; `data` holds the event's own fields (not the envelope). */
export interface TaskEventRow {
  seq: number;
  task_id: string;
  kind: TaskEventKind;
  at: string;
  event_id: string;
  /** JSON object. */
  data: string;
}
