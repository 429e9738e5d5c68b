import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { Duration } from "./duration.js";
import { SkillName, Token } from "./ids.js";
import { BoundedJson, TaskMetadata } from "./json.js";
import { PlacementStrategy, Priority, type RetryPolicy, TaskSpec } from "./task.js";

const LabelMap = z.union([
  z.record(
    z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/, "label keys are 1-63 of A-Z a-z 0-9 _ . / -"),
    z.union([z.string().max(128), z.number(), z.boolean()]),
  ),
  z.string().max(2000),
]);

/**
 * A task as a caller submits it (HTTP body, SDK, CLI): everything but the skill is optional and
 * unknown fields are refused. `resolveSubmission` turns it into a full `TaskSpec`.
 */
export const TaskSubmission = z
  .strictObject({
    /** Your own id for the task; submitting the same id again returns the same task. */
    task_id: Token.optional(),
    /** The skill to run (seed 000's SDK `type`); added to `required_skills`. */
    type: SkillName.optional(),
    required_skills: z.array(SkillName).max(16).optional(),
    optional_skills: z.array(SkillName).max(16).optional(),
    name: z.string().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
    payload: BoundedJson.optional(),
    priority: Priority.optional(),
    timeout: Duration.optional(),
    retry: z
      .strictObject({
        max_attempts: z.number().int().min(1).max(100).optional(),
        backoff: z.enum(["exponential", "fixed"]).optional(),
        initial_backoff: Duration.optional(),
        max_backoff: Duration.optional(),
        jitter: z.number().min(0).max(1).optional(),
      })
      .optional(),
    constraints: z
      .strictObject({
        labels: LabelMap.optional(),
        zone: z.string().min(1).max(64).optional(),
        prefer_zone: z.string().min(1).max(64).optional(),
        /** Seed 000's `requireGPU`: the node must have the label `gpu=true`. */
        require_gpu: z.boolean().optional(),
        node: Token.optional(),
        prefer_node: Token.optional(),
      })
      .optional(),
    /** Seed 000's `requireNode`: a node id or a node role. */
    require_node: Token.optional(),
    affinity_key: z.string().min(1).max(256).optional(),
    idempotency_key: z.string().min(1).max(256).optional(),
    strategy: PlacementStrategy.optional(),
    metadata: TaskMetadata.optional(),
    user_id: z.string().min(1).max(128).optional(),
    checkpoint: z.boolean().optional(),
  })
  .superRefine((s, ctx) => {
    if (!s.type && (!s.required_skills || s.required_skills.length === 0)) {
      ctx.addIssue({
        code: "custom",
        path: ["required_skills"],
        message: "name at least one skill (required_skills, or type)",
      });
    }
    if (s.require_node && s.constraints?.node && s.require_node !== s.constraints.node) {
      ctx.addIssue({
        code: "custom",
        path: ["require_node"],
        message: "differs from constraints.node; give one",
      });
    }
  });
export type TaskSubmission = z.input<typeof TaskSubmission>;

/** Cluster-wide defaults for what a submission leaves out (config section `tasks`). */
export interface SubmissionDefaults {
  timeout_ms: number;
  retry: RetryPolicy;
  /** Largest payload, in bytes of JSON. */
  max_payload_bytes: number;
}

/** A time-ordered task id: `t-` + 9 base-36 digits of milliseconds + 10 random characters. */
export function newTaskId(now = Date.now()): string {
  return `t-${now.toString(36).padStart(9, "0")}${randomBytes(8).toString("base64url").slice(0, 10)}`;
}

function labelsOf(input: z.output<typeof LabelMap> | undefined): Record<string, string> {
  if (input === undefined) return {};
  if (typeof input !== "string")
    return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, String(v)]));
  const out: Record<string, string> = {};
  for (const part of input
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf("=");
    out[eq < 0 ? part : part.slice(0, eq).trim()] = eq < 0 ? "true" : part.slice(eq + 1).trim();
  }
  return out;
}

export type Resolved = { ok: true; spec: TaskSpec } | { ok: false; field: string; message: string };

/**
 * Turns a validated submission into the spec the scheduler stores: defaults filled in, the skill
 * list built, the id chosen (yours, else derived from the idempotency key so a repeat maps to the
 * same task, else a new one), the payload size checked.
 */
export function resolveSubmission(
  input: z.output<typeof TaskSubmission>,
  defaults: SubmissionDefaults,
): Resolved {
  const skills = [...new Set([...(input.type ? [input.type] : []), ...(input.required_skills ?? [])])];
  const payload = input.payload ?? null;
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  if (bytes > defaults.max_payload_bytes) {
    return {
      ok: false,
      field: "payload",
      message: `payload is ${bytes} bytes of JSON; the limit is ${defaults.max_payload_bytes} (tasks.max_payload_bytes)`,
    };
  }
  const taskId =
    input.task_id ??
    (input.idempotency_key
      ? `t-i${createHash("sha256").update(input.idempotency_key).digest("base64url").slice(0, 40)}`
      : newTaskId());
  const labels = labelsOf(input.constraints?.labels);
  if (input.constraints?.require_gpu) labels.gpu = "true";
  const r = input.retry ?? {};
  const spec: TaskSpec = {
    task_id: taskId,
    task_type: skills[0] as string,
    name: input.name ?? skills.join("+").slice(0, 200),
    description: input.description ?? "",
    required_skills: skills,
    optional_skills: input.optional_skills ?? [],
    payload,
    priority: input.priority ?? "normal",
    timeout_ms: input.timeout ?? defaults.timeout_ms,
    retry: {
      max_attempts: r.max_attempts ?? defaults.retry.max_attempts,
      backoff: r.backoff ?? defaults.retry.backoff,
      initial_backoff_ms: r.initial_backoff ?? defaults.retry.initial_backoff_ms,
      max_backoff_ms: r.max_backoff ?? defaults.retry.max_backoff_ms,
      jitter: r.jitter ?? defaults.retry.jitter,
    },
    constraints: {
      labels,
      zone: input.constraints?.zone ?? null,
      prefer_zone: input.constraints?.prefer_zone ?? null,
      node: input.require_node ?? input.constraints?.node ?? null,
      prefer_node: input.constraints?.prefer_node ?? null,
    },
    affinity_key: input.affinity_key ?? null,
    idempotency_key: input.idempotency_key ?? null,
    strategy: input.strategy ?? null,
    metadata: input.metadata ?? {},
    user_id: input.user_id ?? null,
    checkpoint: input.checkpoint ?? true,
  };
  // What the scheduler will accept is the spec's schema: refuse here, naming the caller's field,
  // rather than acknowledge a task the scheduler would have to drop.
  const checked = TaskSpec.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const path = (issue?.path ?? []).map(String).join(".");
    const field =
      path
        .replace(/^timeout_ms$/, "timeout")
        .replace(/_ms$/, "")
        .replace(/^constraints\.labels\..*/, "constraints.labels") || "(task)";
    return { ok: false, field, message: `${field}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, spec: checked.data };
}
