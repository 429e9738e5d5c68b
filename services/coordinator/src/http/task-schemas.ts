import {
  DURATION_RULE,
  PLACEMENT_STRATEGIES,
  PRIORITIES,
  parseDuration,
  TASK_STATUSES,
  type TaskStatus,
} from "@openclaw/protocol";
import { z } from "zod";
import { Iso, LIMIT_RULE, shown, tokenParam } from "./schemas.js";

/** The longest `?wait=` of a result long poll. */
export const MAX_WAIT_MS = 5 * 60_000;

export const TaskIdParams = z.object({ id: tokenParam("task id") });

const STATUS_RULE = `one of: ${TASK_STATUSES.join(", ")} (several separated by commas)`;

const StatusList = z.string().transform((value, ctx): TaskStatus[] => {
  const parts = value
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const bad = parts.find((p) => !(TASK_STATUSES as readonly string[]).includes(p));
  if (parts.length === 0 || bad !== undefined) {
    ctx.addIssue({ code: "custom", message: `status '${shown(bad ?? value)}' is not ${STATUS_RULE}` });
    return z.NEVER;
  }
  return [...new Set(parts)] as TaskStatus[];
});

const ISO_TIME = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

/** A time in a query: ISO 8601 (`2026-02-16T16:00:00Z`, with an offset, or a date), as toISOString. */
function timeQuery(name: string) {
  return z.string().transform((value, ctx) => {
    if (!ISO_TIME.safeParse(value).success) {
      ctx.addIssue({
        code: "custom",
        message: `${name} '${shown(value)}' is not an ISO 8601 time like 2026-02-16T16:00:00Z or 2026-02-16`,
      });
      return z.NEVER;
    }
    return new Date(value).toISOString();
  });
}

/** The opaque list cursor: the (submitted_at, task_id) of the last task of the page. */
export function encodeCursor(row: { submitted_at: string; task_id: string }): string {
  return Buffer.from(JSON.stringify([row.submitted_at, row.task_id])).toString("base64url");
}

const Cursor = z.string().transform((value, ctx) => {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === "string" &&
      typeof parsed[1] === "string" &&
      !Number.isNaN(Date.parse(parsed[0]))
    ) {
      return { submitted_at: parsed[0], task_id: parsed[1] };
    }
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: "cursor is not one this API gave out (use next_cursor as it is)" });
  return z.NEVER;
});

/** Unknown parameters are refused: a misspelt filter would otherwise list everything. */
export const TaskListQuery = z.strictObject({
  status: StatusList.optional(),
  skill: tokenParam("skill").optional(),
  node: tokenParam("node id").optional(),
  since: timeQuery("since").optional(),
  until: timeQuery("until").optional(),
  limit: z.coerce.number(LIMIT_RULE).int(LIMIT_RULE).min(1, LIMIT_RULE).max(1000, LIMIT_RULE).default(100),
  cursor: Cursor.optional(),
});

const WAIT_RULE = `wait must be ${DURATION_RULE}, from 0 to 5m`;

export const ResultQuery = z.strictObject({
  wait: z
    .string()
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms > MAX_WAIT_MS) {
        ctx.addIssue({ code: "custom", message: `${WAIT_RULE}; got '${shown(value)}'` });
        return z.NEVER;
      }
      return ms;
    })
    .default(0),
});

export const CancelBody = z.strictObject({ reason: z.string().min(1).max(500).optional() });
export const RetryBody = z.strictObject({
  fresh: z
    .boolean()
    .optional()
    .describe("true: drop the task's last checkpoint, so it starts over instead of resuming"),
});

const TaskErrorJson = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });

const AttemptJson = z.object({
  attempt: z.number(),
  node_id: z.string(),
  scheduled_at: Iso,
  started_at: Iso.nullable(),
  ended_at: Iso.nullable(),
  status: z.string(),
  error: TaskErrorJson.nullable(),
});

/** A task as the API returns it: seed 004's task fields, then the scheduler's details. */
export const TaskJson = z.object({
  task_id: z.string(),
  task_type: z.string(),
  name: z.string(),
  description: z.string(),
  required_skills: z.array(z.string()),
  optional_skills: z.array(z.string()),
  status: z.enum(TASK_STATUSES),
  priority: z.enum(PRIORITIES),
  assigned_node: z.string().nullable(),
  submitted_at: Iso,
  scheduled_at: Iso.nullable(),
  started_at: Iso.nullable(),
  completed_at: Iso.nullable(),
  /** The payload (seed 004's name for it). */
  parameters: z.unknown(),
  /** Seconds (seed 004); `timeout_ms` has the exact value. */
  timeout: z.number(),
  retry_count: z.number(),
  max_retries: z.number(),
  user_id: z.string().nullable(),
  affinity_tags: z.array(z.string()),
  result: z.unknown(),
  error: TaskErrorJson.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  payload: z.unknown(),
  timeout_ms: z.number(),
  retry: z.object({
    max_attempts: z.number(),
    backoff: z.string(),
    initial_backoff_ms: z.number(),
    max_backoff_ms: z.number(),
    jitter: z.number(),
  }),
  attempt: z.number(),
  attempts: z.array(AttemptJson),
  progress: z.object({ percent: z.number(), message: z.string() }).nullable(),
  waiting_reason: z.string().nullable(),
  next_attempt_at: Iso.nullable(),
  /** The scheduler's constraints as the spec has them (fields added to the protocol pass through). */
  constraints: z.looseObject({
    labels: z.record(z.string(), z.string()),
    zone: z.string().nullable(),
    prefer_zone: z.string().nullable(),
    node: z.string().nullable(),
    prefer_node: z.string().nullable().optional(),
  }),
  affinity_key: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  strategy: z.enum(PLACEMENT_STRATEGIES).nullable(),
  checkpoint: z.boolean(),
  cancel_requested: z.boolean(),
  updated_at: Iso,
});
export type TaskJson = z.infer<typeof TaskJson>;

/** A task in the list: everything but `parameters`/`payload` and `result`, which may be large. */
export const TaskSummaryJson = TaskJson.omit({ parameters: true, payload: true, result: true });
export type TaskSummaryJson = z.infer<typeof TaskSummaryJson>;

export const TaskPageJson = z.object({
  tasks: z.array(TaskSummaryJson),
  /** Pass as `?cursor=` for the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});

const Links = z.object({ self: z.string(), events: z.string(), result: z.string() });

export const SubmittedJson = z.object({
  task_id: z.string(),
  status: z.enum(TASK_STATUSES),
  submitted_at: Iso,
  links: Links,
});

/** The answer to a repeated submission: the task as it is now. */
export const ExistingTaskJson = TaskJson.extend({ links: Links });

export const TaskStateJson = z.object({ task_id: z.string(), status: z.enum(TASK_STATUSES) });

export const TaskResultJson = z.object({
  task_id: z.string(),
  status: z.enum(TASK_STATUSES),
  result: z.unknown(),
  error: TaskErrorJson.nullable(),
});
export type TaskResultJson = z.infer<typeof TaskResultJson>;
