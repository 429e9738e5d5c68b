import {
  fieldIssues,
  OcError,
  type PlacementStrategy,
  type Priority,
  TaskSubmission,
} from "@openclaw/protocol";
import type { z } from "zod";
import type { Progress } from "./job.js";

/** A task as the SDK takes it (camelCase); every field but the skill is optional. */
export interface TaskInput {
  /** Your id for the task: submitting the same id again gives the same task. */
  id?: string;
  /** The skill to run. */
  type?: string;
  /** More skills the node must have (besides `type`). */
  skills?: string[];
  optionalSkills?: string[];
  name?: string;
  description?: string;
  payload?: unknown;
  priority?: Priority;
  /** `"10m"`, `"30s"` or milliseconds. */
  timeout?: string | number;
  retry?: {
    maxAttempts?: number;
    backoff?: "exponential" | "fixed";
    initialBackoff?: string | number;
    maxBackoff?: string | number;
    jitter?: number;
  };
  /** `checkpoint: true`: the skill is told to checkpoint. */
  checkpoint?: boolean;
  onProgress?: (progress: Progress) => void;
  /** A node id or a node role (the node's `role` label) the task must run on. */
  requireNode?: string;
  constraints?: { labels?: Record<string, string>; zone?: string; requireGPU?: boolean; preferZone?: string };
  affinityKey?: string;
  /** One task per key, whoever submits it: the job is the key's task, yours or the first one's. */
  idempotencyKey?: string;
  strategy?: PlacementStrategy;
  metadata?: Record<string, unknown>;
  userId?: string;
}

const ms = (v: string | number | undefined) => (typeof v === "number" ? `${v}ms` : v);

/** Maps the SDK's task to the wire's submission and validates it, naming the field at fault. */
export function toSubmission(
  task: TaskInput,
  extra: { preferNode?: string | null; preferZone?: string | null },
): z.output<typeof TaskSubmission> {
  const c = task.constraints;
  const constraints = {
    ...(c?.labels ? { labels: c.labels } : {}),
    ...(c?.zone ? { zone: c.zone } : {}),
    ...(c?.requireGPU ? { require_gpu: true } : {}),
    ...((c?.preferZone ?? extra.preferZone) ? { prefer_zone: c?.preferZone ?? extra.preferZone } : {}),
    ...(extra.preferNode ? { prefer_node: extra.preferNode } : {}),
  };
  const raw = {
    task_id: task.id,
    type: task.type,
    required_skills: task.skills,
    optional_skills: task.optionalSkills,
    name: task.name,
    description: task.description,
    priority: task.priority,
    timeout: ms(task.timeout),
    retry: task.retry && {
      max_attempts: task.retry.maxAttempts,
      backoff: task.retry.backoff,
      initial_backoff: ms(task.retry.initialBackoff),
      max_backoff: ms(task.retry.maxBackoff),
      jitter: task.retry.jitter,
    },
    constraints: Object.keys(constraints).length > 0 ? constraints : undefined,
    require_node: task.requireNode,
    affinity_key: task.affinityKey,
    idempotency_key: task.idempotencyKey,
    strategy: task.strategy,
    user_id: task.userId,
    checkpoint: task.checkpoint,
  };
  const clean = JSON.parse(JSON.stringify(raw, (_k, v) => (v === undefined ? undefined : v))) as Record<
    string,
    unknown
  >;
  // The caller's own JSON, checked by the schema (nesting, metadata's size), not copied here: a
  // copy through JSON.stringify would throw a RangeError on a value nested thousands deep.
  if (task.payload !== undefined) clean.payload = task.payload;
  if (task.metadata !== undefined) clean.metadata = task.metadata;
  const parsed = TaskSubmission.safeParse(clean);
  if (!parsed.success) {
    const first = fieldIssues(parsed.error)[0];
    throw new OcError("OC-4000", `invalid task: ${first?.path}: ${first?.message}`, { field: first?.path });
  }
  return parsed.data;
}
