import { z } from "zod";
import { EnvelopeFields } from "./envelope.js";
import { NodeId, SkillName, Token } from "./ids.js";
import { BoundedJson, TaskMetadata } from "./json.js";

/** Seed 004's task statuses. `failed` and `timeout` are final only once retries are used up. */
export const TASK_STATUSES = [
  "pending",
  "scheduled",
  "running",
  "completed",
  "failed",
  "cancelled",
  "timeout",
] as const;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["completed", "failed", "cancelled", "timeout"];
export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Highest first. Within one level tasks run in submission order; waiting tasks age upwards. */
export const PRIORITIES = ["critical", "high", "normal", "low"] as const;
export const Priority = z.enum(PRIORITIES);
export type Priority = z.infer<typeof Priority>;

export const PLACEMENT_STRATEGIES = ["least-loaded", "round-robin", "random", "hash", "adaptive"] as const;
export const PlacementStrategy = z.enum(PLACEMENT_STRATEGIES);
export type PlacementStrategy = z.infer<typeof PlacementStrategy>;

export const RetryPolicy = z.strictObject({
  /** Attempts in all, the first included (seed 000 `maxAttempts`). */
  max_attempts: z.number().int().min(1).max(100),
  backoff: z.enum(["exponential", "fixed"]),
  initial_backoff_ms: z.number().int().min(0).max(86_400_000),
  max_backoff_ms: z.number().int().min(0).max(86_400_000),
  /** Each delay is spread by up to ± this fraction, so retries of many tasks do not line up. */
  jitter: z.number().min(0).max(1),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const TaskConstraints = z.strictObject({
  /** Every label must match exactly, e.g. `{ gpu: "true" }`. */
  labels: z.record(z.string().max(63), z.string().max(128)),
  /** Only nodes in this zone. */
  zone: z.string().max(64).nullable(),
  /** Prefer nodes in this zone, without requiring it. */
  prefer_zone: z.string().max(64).nullable(),
  /** A node id, or a node role (the node's `role` label), e.g. `coordinator` in seed 000's reduce. */
  node: Token.nullable(),
  /** Prefer this node (the SDK's `submitTask(targetNode, ...)`), without requiring it, so failover can still move the task. */
  prefer_node: Token.nullable().optional(),
});
export type TaskConstraints = z.infer<typeof TaskConstraints>;

/** A task as the scheduler stores and places it: every default resolved. */
export const TaskSpec = z.strictObject({
  task_id: Token,
  task_type: SkillName,
  name: z.string().min(1).max(200),
  description: z.string().max(2000),
  /** The node must have every one of these. The first is the skill that runs. */
  required_skills: z.array(SkillName).min(1).max(16),
  /** Nodes that also have these are preferred. */
  optional_skills: z.array(SkillName).max(16),
  payload: z.unknown(),
  priority: Priority,
  timeout_ms: z
    .number()
    .int()
    .min(1)
    .max(7 * 86_400_000),
  retry: RetryPolicy,
  constraints: TaskConstraints,
  /** Tasks with the same key go to the same node while it lives (strategy `hash`). */
  affinity_key: z.string().max(256).nullable(),
  idempotency_key: z.string().max(256).nullable(),
  strategy: PlacementStrategy.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  user_id: z.string().max(128).nullable(),
  /** Whether the skill is told to checkpoint (seed 000 `checkpoint: true`). */
  checkpoint: z.boolean(),
});
export type TaskSpec = z.infer<typeof TaskSpec>;

export const TaskError = z.strictObject({
  code: z.string().max(16),
  message: z.string().max(4000),
  retryable: z.boolean(),
});
export type TaskError = z.infer<typeof TaskError>;

export const AttemptRecord = z.strictObject({
  attempt: z.number().int().min(1),
  node_id: NodeId,
  scheduled_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  ended_at: z.iso.datetime().nullable(),
  status: z.enum(["scheduled", "running", "completed", "failed", "timeout", "cancelled", "lost"]),
  error: TaskError.nullable(),
});
export type AttemptRecord = z.infer<typeof AttemptRecord>;

/** The scheduler's record of a task: the value in the `tasks` KV bucket. */
export const TaskRecord = z.strictObject({
  spec: TaskSpec,
  status: TaskStatus,
  /** Number of the current or last attempt; 0 before the first dispatch. */
  attempt: z.number().int().min(0),
  assigned_node: NodeId.nullable(),
  submitted_at: z.iso.datetime(),
  scheduled_at: z.iso.datetime().nullable(),
  started_at: z.iso.datetime().nullable(),
  completed_at: z.iso.datetime().nullable(),
  /** When a retry may be dispatched (backoff); null when it may run now. */
  next_attempt_at: z.iso.datetime().nullable(),
  /** Why a pending task is not placed, e.g. "no online node has skill translate". */
  waiting_reason: z.string().max(500).nullable(),
  progress: z.strictObject({ percent: z.number().min(0).max(100), message: z.string().max(500) }).nullable(),
  attempts: z.array(AttemptRecord).max(100),
  result: z.unknown(),
  error: TaskError.nullable(),
  cancel_requested: z.boolean(),
  /** Attempts before the last manual retry; the retry policy counts only the ones after it. */
  retry_base: z.number().int().min(0).optional(),
});
export type TaskRecord = z.infer<typeof TaskRecord>;

/** A submission into the scheduler's inbox (`<prefix>.sched.submit`); message id = task id. */
export const TaskSubmit = z.strictObject({
  ...EnvelopeFields,
  // Checked as a submission is (MAX_JSON_DEPTH, MAX_METADATA_BYTES): whoever publishes here directly
  // gets no task the leader could not encode (it would fail on every delivery).
  task: TaskSpec.extend({ payload: BoundedJson, metadata: TaskMetadata }),
  submitted_at: z.iso.datetime(),
});
export type TaskSubmit = z.infer<typeof TaskSubmit>;

/** Most submissions in one `TaskSubmitBatch` message. */
export const MAX_SUBMIT_BATCH = 100;

/**
 * Several submissions in one stored message (`<prefix>.sched.submit-batch`, a bulk submit): one
 * publish and one acknowledgement for all. Each entry is a whole `TaskSubmit`, checked on its own
 * by the scheduler, so one bad entry does not cost the others.
 */
export const TaskSubmitBatch = z.strictObject({
  ...EnvelopeFields,
  submissions: z.array(z.unknown()).min(1).max(MAX_SUBMIT_BATCH),
});
export type TaskSubmitBatch = z.infer<typeof TaskSubmitBatch>;

export const TaskCancel = z.strictObject({ ...EnvelopeFields, task_id: Token, reason: z.string().max(500) });
export type TaskCancel = z.infer<typeof TaskCancel>;

export const TaskRetry = z.strictObject({
  ...EnvelopeFields,
  task_id: Token,
  /** Start over: the task's last checkpoint is dropped, so the next attempt starts from nothing. */
  fresh: z.boolean().optional(),
});
export type TaskRetry = z.infer<typeof TaskRetry>;

/** What a worker reports about an attempt (`<prefix>.sched.report.<task>`); stale attempts are ignored. */
export const TaskReport = z.discriminatedUnion("kind", [
  z.strictObject({
    ...EnvelopeFields,
    kind: z.literal("started"),
    task_id: Token,
    attempt: z.number().int().min(1),
    node_id: NodeId,
  }),
  z.strictObject({
    ...EnvelopeFields,
    kind: z.literal("succeeded"),
    task_id: Token,
    attempt: z.number().int().min(1),
    node_id: NodeId,
    result: BoundedJson,
    duration_ms: z.number().min(0),
  }),
  z.strictObject({
    ...EnvelopeFields,
    kind: z.literal("failed"),
    task_id: Token,
    attempt: z.number().int().min(1),
    node_id: NodeId,
    error: TaskError,
    duration_ms: z.number().min(0),
  }),
]);
export type TaskReport = z.infer<typeof TaskReport>;

/** The scheduler's order to a node (`<prefix>.dispatch.<node>`): run this attempt. */
export const TaskDispatch = z.strictObject({
  ...EnvelopeFields,
  task: TaskSpec,
  attempt: z.number().int().min(1),
});
export type TaskDispatch = z.infer<typeof TaskDispatch>;

/** Core-NATS order to a node to abort an attempt (`<prefix>.node.<id>.cmd.cancel`). */
export const TaskAbort = z.strictObject({
  ...EnvelopeFields,
  task_id: Token,
  attempt: z.number().int().min(1),
  reason: z.string().max(500),
});
export type TaskAbort = z.infer<typeof TaskAbort>;

/** The last checkpoint of a task (`checkpoints` KV, key = task id), written by the running attempt. */
export const Checkpoint = z.strictObject({
  task_id: Token,
  attempt: z.number().int().min(1),
  node_id: NodeId,
  data: z.unknown(),
  at: z.iso.datetime(),
});
export type Checkpoint = z.infer<typeof Checkpoint>;

/** Queue figures the scheduler leader keeps in the `scheduler` KV bucket (key `queue`). */
export const QueueStats = z.strictObject({
  leader: z.string().max(128),
  pending: z.number().int().min(0),
  pending_by_priority: z.record(Priority, z.number().int().min(0)),
  scheduled: z.number().int().min(0),
  running: z.number().int().min(0),
  updated_at: z.iso.datetime(),
});
export type QueueStats = z.infer<typeof QueueStats>;

/** A task's events (`<prefix>.evt.task.<id>.<kind>`): the scheduler's decisions plus the worker's progress. */
export const TASK_EVENT_KINDS = [
  "submitted",
  "scheduled",
  "started",
  "progress",
  "checkpointed",
  "retrying",
  "completed",
  "failed",
  "cancelled",
  "timeout",
  "waiting",
] as const;
export type TaskEventKind = (typeof TASK_EVENT_KINDS)[number];

const TaskEventBase = { ...EnvelopeFields, task_id: Token };
/** Scheduler events carry the task's record after the change (without payload and result), so readers need nothing else. */
const Snapshot = TaskRecord.omit({ result: true }).extend({ spec: TaskSpec.omit({ payload: true }) });

export const TaskEvent = z.discriminatedUnion("kind", [
  // The one event that carries the payload, so a reader can show it without the tasks bucket.
  z.strictObject({ ...TaskEventBase, kind: z.literal("submitted"), task: Snapshot, payload: z.unknown() }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("waiting"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("scheduled"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("started"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("retrying"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("completed"), task: Snapshot, result: z.unknown() }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("failed"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("cancelled"), task: Snapshot }),
  z.strictObject({ ...TaskEventBase, kind: z.literal("timeout"), task: Snapshot }),
  z.strictObject({
    ...TaskEventBase,
    kind: z.literal("progress"),
    attempt: z.number().int().min(1),
    node_id: NodeId,
    percent: z.number().min(0).max(100),
    message: z.string().max(500),
  }),
  z.strictObject({
    ...TaskEventBase,
    kind: z.literal("checkpointed"),
    attempt: z.number().int().min(1),
    node_id: NodeId,
  }),
]);
export type TaskEvent = z.infer<typeof TaskEvent>;
export type TaskSnapshot = z.infer<typeof Snapshot>;
export { Snapshot as TaskSnapshot };

/** The cluster's task settings, published by the scheduler leader (`scheduler` bucket, key `settings`) for clients. */
export const SchedulerSettings = z.strictObject({
  task_defaults: z.strictObject({
    timeout_ms: z.number().int().min(1),
    max_payload_bytes: z.number().int().min(1),
    retry: RetryPolicy,
  }),
  max_pending: z.number().int().min(1),
  strategy: PlacementStrategy,
});
export type SchedulerSettings = z.infer<typeof SchedulerSettings>;
