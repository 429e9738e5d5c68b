import { HealthState, LeaderRole, nodeIdProblem, tokenProblem } from "@openclaw/protocol";
import { z } from "zod";
import { NODE_STATUSES } from "../status.js";

/** Shows a caller's value in a message without echoing an unbounded string. */
export function shown(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? "undefined" : text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

/** A path or query parameter that becomes a subject token (node id, skill name, task id). */
export function tokenParam(what: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = tokenProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `${what} '${shown(value)}' ${problem}` });
  });
}

function statusQuery<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) => `status '${shown(issue.input)}' is not one of: ${values.join(", ")}`,
  });
}

export const LIMIT_RULE = { error: "limit must be a whole number from 1 to 1000" };

/** A node id in a path: a token, and not a word the node routes use (`online`, `skills`). */
export const NodeIdParams = z.object({
  id: z.string().superRefine((value, ctx) => {
    const problem = nodeIdProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `node id '${shown(value)}' ${problem}` });
  }),
});
export const SkillParams = z.object({ skill: tokenParam("skill") });
/** Optional paging of node lists (the dashboard's); without it, every node (seed 004). */
const NodePage = {
  limit: z.coerce.number(LIMIT_RULE).int(LIMIT_RULE).min(1, LIMIT_RULE).max(1000, LIMIT_RULE).optional(),
  offset: z.coerce
    .number({ error: "offset must be a whole number from 0" })
    .int({ error: "offset must be a whole number from 0" })
    .min(0, { error: "offset must be a whole number from 0" })
    .optional(),
};
/** Unknown parameters are refused, as on every route: `?statsu=offline` would otherwise list every node. */
export const NodeListQuery = z.strictObject({ status: statusQuery(NODE_STATUSES).optional(), ...NodePage });
export const SkillQuery = z.strictObject({
  status: statusQuery([...NODE_STATUSES, "any"] as const).optional(),
  ...NodePage,
});
export const EventsQuery = z.strictObject({
  limit: z.coerce.number(LIMIT_RULE).int(LIMIT_RULE).min(1, LIMIT_RULE).max(1000, LIMIT_RULE).default(100),
});

export const Iso = z.string().describe("ISO 8601 time");

/** Why and since when a node takes no new work; `by` tells an operator's drain from a worker shutting down. */
export const DrainJson = z.object({
  since: Iso,
  reason: z.string(),
  by: z.enum(["operator", "worker"]),
});

/** The scheduler's circuit breaker for a node (seed 000 `circuitBreaker`). */
export const BreakerJson = z.object({
  state: z.enum(["closed", "open", "half_open"]),
  /** Failed attempts in a row (that opened it, when open). */
  failures: z.number(),
  opened_at: Iso.nullable(),
  /** When an open breaker lets trial tasks through. */
  retry_at: Iso.nullable(),
  trial_successes: z.number(),
  last_error: z.string().nullable(),
  updated_at: Iso,
});

export const SkillJson = z.object({
  name: z.string(),
  version: z.string().nullable(),
  description: z.string(),
});

/** A node as `/api/v1/nodes` returns it: seed 004's node record plus descriptor fields. */
export const NodeJson = z.object({
  node_id: z.string(),
  hostname: z.string(),
  platform: z.string(),
  arch: z.string(),
  status: z.enum(NODE_STATUSES),
  /** The health monitor's verdict; null until it has judged the node. */
  health: HealthState.nullable(),
  available_skills: z.array(z.string()),
  skills: z.array(SkillJson),
  max_concurrent_tasks: z.number(),
  running_tasks: z.number(),
  ip_address: z.string().nullable(),
  tailscale_ip: z.string().nullable(),
  port: z.number(),
  cpu_usage: z.number(),
  memory_usage: z.number(),
  disk_usage: z.number(),
  total_tasks_processed: z.number(),
  successful_tasks: z.number(),
  failed_tasks: z.number(),
  average_execution_time: z.number(),
  registered_at: Iso,
  last_heartbeat: Iso.nullable(),
  /** Labels as `key=value` strings. */
  tags: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  zone: z.string().nullable(),
  agent_version: z.string(),
  left_at: Iso.nullable(),
  /** Drained: placed no new work (status `maintenance` while up). */
  draining: z.boolean(),
  drain: DrainJson.nullable(),
  /** Null until the node's breaker has changed state once. */
  circuit_breaker: BreakerJson.nullable(),
});
export type NodeJson = z.infer<typeof NodeJson>;

export const NodeHealthJson = z.object({
  node_id: z.string(),
  status: z.enum(NODE_STATUSES),
  health: HealthState.nullable(),
  /** True when the node is up and the health monitor has nothing against it. */
  healthy: z.boolean(),
  reason: z.string().nullable(),
  last_heartbeat: Iso.nullable(),
  seconds_since_heartbeat: z.number().nullable(),
  missed_heartbeats: z.number(),
  cpu_usage: z.number(),
  memory_usage: z.number(),
  disk_usage: z.number(),
  running_tasks: z.number(),
  max_concurrent_tasks: z.number(),
  available_capacity: z.number(),
  draining: z.boolean(),
  circuit_breaker: BreakerJson.nullable(),
  checked_at: Iso,
});
export type NodeHealthJson = z.infer<typeof NodeHealthJson>;

export const DrainBody = z.strictObject({
  reason: z.string().min(1).max(200, "reason must be at most 200 characters").optional(),
});

/** The answer to a drain or undrain: accepted; the node's record shows it within a moment. */
export const DrainAcceptedJson = z.object({
  node_id: z.string(),
  draining: z.boolean(),
  reason: z.string(),
  /** Tasks the node was running when asked: they finish (a drain never stops them). */
  running_tasks: z.number(),
  message: z.string(),
});

/** One node event; the fields of its kind (`node`, `reason`, `previous`, ...) follow `at`. */
export const NodeEventJson = z.looseObject({
  seq: z.number(),
  node_id: z.string(),
  kind: z.string(),
  at: Iso,
});
export type NodeEventJson = z.infer<typeof NodeEventJson>;

const StatusCounts = z.object({
  online: z.number(),
  offline: z.number(),
  busy: z.number(),
  maintenance: z.number(),
  error: z.number(),
});

export const ClusterHealthJson = z.object({
  checked_at: Iso,
  timestamp: Iso,
  total_nodes: z.number(),
  nodes_by_status: StatusCounts,
  online_nodes: z.number(),
  offline_nodes: z.number(),
  busy_nodes: z.number(),
  timeout_nodes_count: z.number(),
  total_capacity: z.number(),
  used_capacity: z.number(),
  available_capacity: z.number(),
  capacity_utilization: z.number(),
});
export type ClusterHealthJson = z.infer<typeof ClusterHealthJson>;

const LiveCounts = z.object({ pending: z.number(), scheduled: z.number(), running: z.number() });

/** `GET /api/v1/cluster/queue`: live tasks as the read model counts them. */
export const QueueJson = z.object({
  checked_at: Iso,
  pending: z.number(),
  scheduled: z.number(),
  running: z.number(),
  /** Waiting tasks by priority, every priority present (seed 002's queue backlog). */
  pending_by_priority: z.object({
    critical: z.number(),
    high: z.number(),
    normal: z.number(),
    low: z.number(),
  }),
  /** Per required skill (a task that needs two skills counts under both), most pending first. */
  by_skill: z.array(LiveCounts.extend({ skill: z.string() })),
});
export type QueueJson = z.infer<typeof QueueJson>;

/** `GET /api/v1/cluster/series`: what happened in each step of the last minutes. */
export const SeriesJson = z.object({
  step_seconds: z.number(),
  points: z.array(
    z.object({
      at: Iso,
      submitted: z.number(),
      completed: z.number(),
      failed: z.number(),
      scheduling_p50_ms: z.number().nullable(),
      scheduling_p95_ms: z.number().nullable(),
      duration_p50_ms: z.number().nullable(),
    }),
  ),
});

/** A role's leader as its lease says; `expires_at` is when the lease lapses unless renewed. */
export const LeaderJson = z.object({
  role: z.string(),
  holder: z.string(),
  term: z.number(),
  acquired_at: Iso,
  renewed_at: Iso,
  expires_at: Iso,
});
export type LeaderJson = z.infer<typeof LeaderJson>;

export const LeadersJson = z.object({
  checked_at: Iso,
  /** The leases' TTL: the election timeout. */
  lease_ttl_ms: z.number(),
  /** Every role, with its leader or null when nobody leads it. */
  leaders: z.record(z.string(), LeaderJson.nullable()),
});
export type LeadersJson = z.infer<typeof LeadersJson>;

/** `POST /api/v1/cluster/elect`: one role, or every role when absent. */
export const ElectBody = z.strictObject({
  role: LeaderRole.optional(),
  reason: z.string().min(1).max(200).optional(),
});

export const ElectedJson = z.object({
  /** The leaders that answered and stepped down. */
  stepped_down: z.array(
    z.object({ role: z.string(), holder: z.string(), term: z.number(), hold_off_ms: z.number() }),
  ),
  /**
   * Roles whose leader did not step down: `no_leader` (nobody leads now), `no_instance` (none
   * runs) or `too_soon` (it refused: elected less than one election timeout ago).
   */
  not_answered: z.array(
    z.object({
      role: z.string(),
      reason: z.enum(["no_leader", "no_instance", "too_soon"]),
      message: z.string(),
    }),
  ),
});
export type ElectedJson = z.infer<typeof ElectedJson>;

export const ServiceHealthJson = z.object({
  status: z.enum(["ok", "degraded"]),
  service: z.literal("coordinator"),
  instance: z.string(),
  version: z.string(),
  uptime_seconds: z.number(),
  nats: z.enum(["connected", "disconnected"]),
  timestamp: Iso,
});
export type ServiceHealthJson = z.infer<typeof ServiceHealthJson>;

/** Every error answer: fastify's shape plus a stable code and the offending field. */
export const ErrorJson = z.object({
  statusCode: z.number(),
  error: z.string(),
  code: z.string(),
  message: z.string(),
  field: z.string().optional(),
});
export type ErrorJson = z.infer<typeof ErrorJson>;

const DEAD_LETTER_LIMIT_RULE = { error: "must be a whole number from 1 to 100" };

/** `GET /api/v1/cluster/dead-letters`: how many, newest first. */
export const DeadLettersQuery = z.strictObject({
  limit: z.coerce
    .number(DEAD_LETTER_LIMIT_RULE)
    .int(DEAD_LETTER_LIMIT_RULE)
    .min(1, DEAD_LETTER_LIMIT_RULE)
    .max(100, DEAD_LETTER_LIMIT_RULE)
    .default(20),
});

/** Bytes of a dead letter's message shown in `data`. */
export const DEAD_LETTER_PREVIEW_BYTES = 4096;

/** Messages a service gave up on (invalid, unencodable, failing on every delivery), newest first. */
export const DeadLettersJson = z.object({
  dead_letters: z.array(
    z.object({
      /** Its sequence in the `<PREFIX>_DEAD_LETTERS` stream. */
      seq: z.number(),
      /** When it was given up. */
      at: Iso,
      /** The consumer that gave up, e.g. `scheduler`. */
      source: z.string(),
      /** Where the message was published. */
      subject: z.string(),
      /** Why: `invalid: <field>: <problem>`, `unencodable: ...` or `failing: <last error>`. */
      reason: z.string(),
      /** Deliveries it had when given up. */
      deliveries: z.number().nullable(),
      /** The message's size in bytes. */
      size: z.number(),
      /** Its first DEAD_LETTER_PREVIEW_BYTES bytes, as UTF-8 text. */
      data: z.string(),
      data_truncated: z.boolean(),
    }),
  ),
});
export type DeadLettersJson = z.infer<typeof DeadLettersJson>;
