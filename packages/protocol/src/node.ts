import { z } from "zod";
import { EnvelopeFields } from "./envelope.js";
import { NodeId, SkillName, Token } from "./ids.js";

const Percent = z.number().min(0).max(100);
const LabelKey = z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/, "label keys are 1-63 of A-Z a-z 0-9 _ . / -");
const LabelValue = z.string().max(128);

/** One skill as a worker announces it. */
export const SkillInfo = z.strictObject({
  name: SkillName,
  version: z.string().max(64).nullable(),
  description: z.string().max(2000),
});
export type SkillInfo = z.infer<typeof SkillInfo>;

/** What a worker tells the cluster about itself when it registers. */
export const NodeDescriptor = z.strictObject({
  node_id: NodeId,
  /** Random per worker process: a new session means the process restarted. */
  session: Token,
  hostname: z.string().min(1).max(255),
  platform: z.string().max(32),
  arch: z.string().max(32),
  ip_address: z.string().max(64).nullable(),
  tailscale_ip: z.string().max(64).nullable(),
  port: z.number().int().min(0).max(65535),
  max_concurrent_tasks: z.number().int().min(1).max(10_000),
  heartbeat_interval_ms: z.number().int().positive(),
  labels: z.record(LabelKey, LabelValue),
  zone: z.string().max(64).nullable(),
  /** Each name once: two entries of one name would leave which one runs to chance. */
  skills: z
    .array(SkillInfo)
    .max(1000)
    .superRefine((skills, ctx) => {
      const first = new Map<string, number>();
      skills.forEach((skill, i) => {
        const at = first.get(skill.name);
        if (at === undefined) first.set(skill.name, i);
        else
          ctx.addIssue({
            code: "custom",
            path: [i, "name"],
            message: `skill '${skill.name}' is listed twice (entries ${at} and ${i}); each skill name may appear once`,
          });
      });
    }),
  agent_version: z.string().max(64),
  started_at: z.iso.datetime(),
});
export type NodeDescriptor = z.infer<typeof NodeDescriptor>;

/** Load a worker reports with every heartbeat. */
export const NodeLoad = z.strictObject({
  cpu_usage: Percent,
  memory_usage: Percent,
  disk_usage: Percent,
  running_tasks: z.number().int().min(0),
  running_task_ids: z.array(Token).max(10_000),
});
export type NodeLoad = z.infer<typeof NodeLoad>;

export const NodeRegister = z.strictObject({ ...EnvelopeFields, node: NodeDescriptor });
export type NodeRegister = z.infer<typeof NodeRegister>;

export const NodeHeartbeat = z.strictObject({
  ...EnvelopeFields,
  node_id: NodeId,
  session: Token,
  load: NodeLoad,
});
export type NodeHeartbeat = z.infer<typeof NodeHeartbeat>;

export const NodeLeave = z.strictObject({
  ...EnvelopeFields,
  node_id: NodeId,
  session: Token,
  reason: z.string().max(200),
});
export type NodeLeave = z.infer<typeof NodeLeave>;

/**
 * A worker's answer to the health monitor's ping (`<prefix>.node.<id>.cmd.ping`): its connection
 * to NATS is up. A node whose heartbeats are late and that nobody answers for is gone.
 */
export const NodePong = z.strictObject({
  ...EnvelopeFields,
  node_id: NodeId,
  session: Token,
});
export type NodePong = z.infer<typeof NodePong>;

/**
 * Stop placing new work on a node (`draining: true`), or resume (`false`). An operator's drain
 * (`session: null`) lasts until undrained; a worker draining itself before it exits names its
 * session, so its next process starts undrained.
 */
export const NodeDrain = z.strictObject({
  ...EnvelopeFields,
  node_id: NodeId,
  draining: z.boolean(),
  reason: z.string().max(200),
  session: Token.nullable(),
});
export type NodeDrain = z.infer<typeof NodeDrain>;

/** Why and since when a node takes no new work. */
export const DrainState = z.strictObject({
  since: z.iso.datetime(),
  reason: z.string().max(200),
  /** The worker session that drained itself, or null for an operator's drain. */
  session: Token.nullable(),
});
export type DrainState = z.infer<typeof DrainState>;

/** Task counters of a node; they start moving once tasks run. */
export const NodeStats = z.strictObject({
  total_tasks_processed: z.number().int().min(0),
  successful_tasks: z.number().int().min(0),
  failed_tasks: z.number().int().min(0),
  average_execution_time: z.number().min(0),
});
export type NodeStats = z.infer<typeof NodeStats>;

export const EMPTY_STATS: NodeStats = {
  total_tasks_processed: 0,
  successful_tasks: 0,
  failed_tasks: 0,
  average_execution_time: 0,
};

export const EMPTY_LOAD: NodeLoad = {
  cpu_usage: 0,
  memory_usage: 0,
  disk_usage: 0,
  running_tasks: 0,
  running_task_ids: [],
};

/** The registry's record of a node, the value in the `nodes` KV bucket. */
export const NodeRecord = z.strictObject({
  node: NodeDescriptor,
  state: z.enum(["active", "left"]),
  registered_at: z.iso.datetime(),
  last_heartbeat: z.iso.datetime().nullable(),
  left_at: z.iso.datetime().nullable(),
  load: NodeLoad,
  stats: NodeStats,
  /**
   * NODES stream sequence of the last register/leave applied, and of the last heartbeat applied:
   * kept apart so a heartbeat handled first (by another replica) never hides an earlier register.
   */
  membership_seq: z.number().int().min(0),
  heartbeat_seq: z.number().int().min(0),
  /**
   * An event written with the change but maybe not yet published (the registry died in between);
   * whoever handles this node next publishes it (deduplicated by its id) and clears it.
   */
  /** Set while the node is drained: the scheduler places nothing new on it. */
  drain: DrainState.nullable().default(null),
  /** NODES stream sequence of the last drain/undrain applied (ordered apart from registrations). */
  drain_seq: z.number().int().min(0).default(0),
  pending_event: z
    .strictObject({
      kind: z.enum(["joined", "updated", "left"]),
      seq: z.number().int().min(0),
      reason: z.string().max(200),
    })
    .nullable(),
});
export type NodeRecord = z.infer<typeof NodeRecord>;

export const HEALTH_STATES = ["online", "suspect", "offline"] as const;
export const HealthState = z.enum(HEALTH_STATES);
export type HealthState = z.infer<typeof HealthState>;

/** The health monitor's view of a node, the value in the `node_health` KV bucket. */
export const NodeHealthRecord = z.strictObject({
  node_id: NodeId,
  session: Token,
  status: HealthState,
  reason: z.string().max(200),
  since: z.iso.datetime(),
  last_seen: z.iso.datetime().nullable(),
  missed_heartbeats: z.number().int().min(0),
  consecutive_heartbeats: z.number().int().min(0),
  checked_at: z.iso.datetime(),
});
export type NodeHealthRecord = z.infer<typeof NodeHealthRecord>;

export const BREAKER_STATES = ["closed", "open", "half_open"] as const;
export const BreakerState = z.enum(BREAKER_STATES);
export type BreakerState = z.infer<typeof BreakerState>;

/**
 * A node's circuit breaker, kept by the scheduler leader in the `scheduler` bucket (key
 * `breaker.<node>`) whenever its state changes: open after `failure_threshold` failed attempts in
 * a row, half-open (a few trial tasks) after `recovery_timeout`, closed once the trials succeed.
 */
export const BreakerRecord = z.strictObject({
  node_id: NodeId,
  state: BreakerState,
  /** Failed attempts in a row (closed), or that opened it (open). */
  failures: z.number().int().min(0),
  opened_at: z.iso.datetime().nullable(),
  /** When an open breaker lets trial tasks through. */
  retry_at: z.iso.datetime().nullable(),
  /** Trial tasks that succeeded since it went half-open. */
  trial_successes: z.number().int().min(0),
  last_error: z.string().max(500).nullable(),
  updated_at: z.iso.datetime(),
});
export type BreakerRecord = z.infer<typeof BreakerRecord>;
