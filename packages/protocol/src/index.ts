/**
 * The wire contract of OpenClaw Cluster: every bus message and KV record as a zod schema with
 * the TypeScript type inferred under the same name, subject/bucket names, and error codes.
 *
 * ```ts
 * import { NodeHeartbeat, names } from "@openclaw/protocol";
 * const n = names("oc");
 * const parsed = NodeHeartbeat.safeParse(JSON.parse(text));
 * nc.publish(n.subjects.nodeMessage("worker-1", "heartbeat"), body);
 * ```
 */

export { DURATION_RULE, Duration, DurationOrZero, formatDuration, parseDuration } from "./duration.js";
export {
  ElectRefused,
  ElectReply,
  ElectRequest,
  ElectSteppedDown,
  LEADER_ROLES,
  LeaderRole,
} from "./election.js";
export { CLUSTER_VERSION, EnvelopeFields, envelope, PROTOCOL_VERSION, Sender } from "./envelope.js";
export { ERROR_CODES, type ErrorCode, isOcError, OcError } from "./errors.js";
export {
  LeaderElected,
  LeaseRecord,
  NodeEvent,
  NodeJoined,
  NodeLeft,
  NodeOffline,
  NodeOnline,
  NodeSuspect,
  NodeUpdated,
} from "./events.js";
export {
  isToken,
  NodeId,
  nodeIdProblem,
  RESERVED_NODE_IDS,
  SkillName,
  TOKEN_PATTERN,
  TOKEN_RULE,
  Token,
  tokenProblem,
} from "./ids.js";
export { type FieldIssue, fieldIssues, formatIssues } from "./issues.js";
export {
  BoundedJson,
  depthProblem,
  jsonDepth,
  MAX_JSON_DEPTH,
  MAX_METADATA_BYTES,
  TaskMetadata,
} from "./json.js";
export {
  BREAKER_STATES,
  BreakerRecord,
  BreakerState,
  DrainState,
  EMPTY_LOAD,
  EMPTY_STATS,
  HEALTH_STATES,
  HealthState,
  NodeDescriptor,
  NodeDrain,
  NodeHealthRecord,
  NodeHeartbeat,
  NodeLeave,
  NodeLoad,
  NodePong,
  NodeRecord,
  NodeRegister,
  NodeStats,
  SkillInfo,
} from "./node.js";
export {
  type Names,
  NODE_COMMAND_KINDS,
  NODE_EVENT_KINDS,
  NODE_MESSAGE_KINDS,
  type NodeCommandKind,
  type NodeEventKind,
  type NodeMessageKind,
  names,
} from "./subjects.js";
export {
  newTaskId,
  type Resolved,
  resolveSubmission,
  type SubmissionDefaults,
  TaskSubmission,
} from "./submission.js";
export {
  AttemptRecord,
  Checkpoint,
  isTerminal,
  MAX_SUBMIT_BATCH,
  PLACEMENT_STRATEGIES,
  PlacementStrategy,
  PRIORITIES,
  Priority,
  QueueStats,
  RetryPolicy,
  SchedulerSettings,
  TASK_EVENT_KINDS,
  TASK_STATUSES,
  TaskAbort,
  TaskCancel,
  TaskConstraints,
  TaskDispatch,
  TaskError,
  TaskEvent,
  type TaskEventKind,
  TaskRecord,
  TaskReport,
  TaskRetry,
  TaskSnapshot,
  TaskSpec,
  TaskStatus,
  TaskSubmit,
  TaskSubmitBatch,
  TERMINAL_STATUSES,
} from "./task.js";
