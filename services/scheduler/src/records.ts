import type { AttemptRecord, TaskError, TaskRecord, TaskSnapshot, TaskSpec } from "@openclaw/protocol";
import { backoffMs } from "./backoff.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** Lost attempts not counted against `max_attempts`, per task. */
export const MAX_FREE_LOSSES = 5;

export function newRecord(spec: TaskSpec, submittedAt: string): TaskRecord {
  return {
    spec,
    status: "pending",
    attempt: 0,
    assigned_node: null,
    submitted_at: submittedAt,
    scheduled_at: null,
    started_at: null,
    completed_at: null,
    next_attempt_at: null,
    waiting_reason: null,
    progress: null,
    attempts: [],
    result: null,
    error: null,
    cancel_requested: false,
  };
}

function withAttempt(rec: TaskRecord, change: Partial<AttemptRecord>): AttemptRecord[] {
  return rec.attempts.map((a) => (a.attempt === rec.attempt ? { ...a, ...change } : a));
}

/** Dispatched to `nodeId` as the next attempt. */
export function dispatched(rec: TaskRecord, nodeId: string, now: number): TaskRecord {
  const attempt = rec.attempt + 1;
  const entry: AttemptRecord = {
    attempt,
    node_id: nodeId,
    scheduled_at: iso(now),
    started_at: null,
    ended_at: null,
    status: "scheduled",
    error: null,
  };
  // Keep the newest 100 attempts (the schema's bound).
  const attempts = [...rec.attempts, entry].slice(-100);
  return {
    ...rec,
    status: "scheduled",
    attempt,
    assigned_node: nodeId,
    scheduled_at: iso(now),
    started_at: null,
    next_attempt_at: null,
    waiting_reason: null,
    progress: null,
    attempts,
  };
}

export function started(rec: TaskRecord, now: number): TaskRecord {
  return {
    ...rec,
    status: "running",
    started_at: iso(now),
    attempts: withAttempt(rec, { status: "running", started_at: iso(now) }),
  };
}

export function succeeded(rec: TaskRecord, result: unknown, now: number): TaskRecord {
  return {
    ...rec,
    status: "completed",
    completed_at: iso(now),
    result,
    error: null,
    progress: { percent: 100, message: rec.progress?.message ?? "" },
    attempts: withAttempt(rec, { status: "completed", ended_at: iso(now) }),
  };
}

/** Attempts that count against the retry policy (those since the last manual retry). */
export function attemptsUsed(rec: TaskRecord): number {
  return rec.attempt - (rec.retry_base ?? 0);
}

/**
 * An attempt failed: back to pending after the backoff, or final (`failed`, or `timeout` when the
 * last attempt timed out) when the error is not retryable or the attempts are used up.
 */
export function failed(
  rec: TaskRecord,
  error: TaskError,
  now: number,
  random: () => number = Math.random,
): { record: TaskRecord; retryAt?: number } {
  const timedOut = error.code === "OC-6004";
  const attempts = withAttempt(rec, { status: timedOut ? "timeout" : "failed", ended_at: iso(now), error });
  if (error.retryable && attemptsUsed(rec) < rec.spec.retry.max_attempts) {
    const retryAt = now + backoffMs(rec.spec.retry, attemptsUsed(rec), random);
    return {
      record: {
        ...rec,
        status: "pending",
        assigned_node: null,
        next_attempt_at: iso(retryAt),
        error,
        attempts,
      },
      retryAt,
    };
  }
  return {
    record: { ...rec, status: timedOut ? "timeout" : "failed", completed_at: iso(now), error, attempts },
  };
}

/**
 * The node never started the attempt (it died, or the order was lost): back to pending at once,
 * the attempt marked lost and not counted against the retry policy.
 */
export function lost(rec: TaskRecord, reason: string, now: number): TaskRecord {
  // Not counted, up to a point: a task lost again and again (a node that takes work and dies)
  // starts counting against its attempts, so it cannot circle forever.
  const losses = rec.attempts.filter((a) => a.status === "lost").length;
  return {
    ...rec,
    status: "pending",
    assigned_node: null,
    next_attempt_at: null,
    retry_base: losses < MAX_FREE_LOSSES ? (rec.retry_base ?? 0) + 1 : (rec.retry_base ?? 0),
    attempts: withAttempt(rec, {
      status: "lost",
      ended_at: iso(now),
      error: { code: "OC-6009", message: reason, retryable: true },
    }),
  };
}

export function cancelled(rec: TaskRecord, reason: string, now: number): TaskRecord {
  const live = rec.status === "scheduled" || rec.status === "running";
  return {
    ...rec,
    status: "cancelled",
    completed_at: iso(now),
    next_attempt_at: null,
    waiting_reason: null,
    cancel_requested: live,
    error: { code: "OC-6005", message: reason || "cancelled", retryable: false },
    attempts: live ? withAttempt(rec, { status: "cancelled", ended_at: iso(now) }) : rec.attempts,
  };
}

/** A manual retry of a dead task: pending again, with a fresh attempt budget. */
export function retried(rec: TaskRecord): TaskRecord {
  return {
    ...rec,
    status: "pending",
    assigned_node: null,
    completed_at: null,
    next_attempt_at: null,
    cancel_requested: false,
    error: null,
    result: null,
    retry_base: rec.attempt,
  };
}

/** The record as events carry it: without payload and result (those travel once, on their own). */
export function snapshot(rec: TaskRecord): TaskSnapshot {
  const { payload: _payload, ...spec } = rec.spec;
  const { result: _result, ...rest } = rec;
  return { ...rest, spec };
}
