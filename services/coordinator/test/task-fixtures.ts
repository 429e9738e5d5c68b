import type { ServiceContext } from "@openclaw/bus";
import { encode } from "@openclaw/bus";
import {
  type AttemptRecord,
  envelope,
  resolveSubmission,
  type SubmissionDefaults,
  type TaskError,
  type TaskEvent,
  type TaskRecord,
  type TaskSnapshot,
  type TaskSpec,
  TaskSubmission,
} from "@openclaw/protocol";
import { taskRecord } from "@openclaw/testing";
import type { NodeStore } from "../src/db/node-store.js";

const SCHEDULER = { service: "scheduler", instance: "sched-1" };

export const DEFAULTS: SubmissionDefaults = {
  timeout_ms: 600_000,
  retry: {
    max_attempts: 3,
    backoff: "exponential",
    initial_backoff_ms: 1000,
    max_backoff_ms: 300_000,
    jitter: 0.2,
  },
  max_payload_bytes: 1024 * 1024,
};

/** A resolved spec, as the scheduler would store it. */
export function taskSpec(id: string, input: Omit<TaskSubmission, "task_id"> = {}): TaskSpec {
  const input_ = TaskSubmission.parse({ type: "python", payload: { n: 1 }, ...input, task_id: id });
  const resolved = resolveSubmission(input_, DEFAULTS);
  if (!resolved.ok) throw new Error(resolved.message);
  return resolved.spec;
}

const ms = (iso: string, plus: number) => new Date(Date.parse(iso) + plus).toISOString();

/**
 * Plays the scheduler for one task: each method changes the record the way the scheduler does
 * and returns the event it would publish (with the record's snapshot).
 */
export class TaskPlay {
  readonly record: TaskRecord;
  #clock: string;

  constructor(spec: TaskSpec, submittedAt = "2026-02-16T16:00:00.000Z") {
    this.#clock = submittedAt;
    this.record = taskRecord(spec, { submitted_at: submittedAt });
  }

  get id(): string {
    return this.record.spec.task_id;
  }

  /** Moves the play's clock on by `ms` and returns the new time. */
  tick(by = 1000): string {
    this.#clock = ms(this.#clock, by);
    return this.#clock;
  }

  snapshot(): TaskSnapshot {
    const { result: _r, spec, ...rest } = this.record;
    const { payload: _p, ...specRest } = spec;
    return structuredClone({ ...rest, spec: specRest });
  }

  #base() {
    return { ...envelope(SCHEDULER), task_id: this.id };
  }

  #current(): AttemptRecord {
    const a = this.record.attempts[this.record.attempts.length - 1];
    if (!a) throw new Error("no attempt");
    return a;
  }

  submitted(): TaskEvent {
    return { ...this.#base(), kind: "submitted", task: this.snapshot(), payload: this.record.spec.payload };
  }

  waiting(reason: string): TaskEvent {
    this.record.waiting_reason = reason;
    return { ...this.#base(), kind: "waiting", task: this.snapshot() };
  }

  scheduled(node: string): TaskEvent {
    const at = this.tick(100);
    this.record.attempt += 1;
    this.record.status = "scheduled";
    this.record.assigned_node = node;
    this.record.scheduled_at = at;
    this.record.waiting_reason = null;
    this.record.next_attempt_at = null;
    this.record.attempts.push({
      attempt: this.record.attempt,
      node_id: node,
      scheduled_at: at,
      started_at: null,
      ended_at: null,
      status: "scheduled",
      error: null,
    });
    return { ...this.#base(), kind: "scheduled", task: this.snapshot() };
  }

  started(): TaskEvent {
    const at = this.tick(100);
    this.record.status = "running";
    this.record.started_at = at;
    Object.assign(this.#current(), { status: "running", started_at: at });
    return { ...this.#base(), kind: "started", task: this.snapshot() };
  }

  progress(percent: number, message = `${percent}%`, attempt = this.record.attempt): TaskEvent {
    return {
      ...this.#base(),
      kind: "progress",
      attempt,
      node_id: this.record.assigned_node ?? "w1",
      percent,
      message,
    };
  }

  completed(result: unknown, runMs = 2000): TaskEvent {
    const at = this.tick(runMs);
    this.record.status = "completed";
    this.record.completed_at = at;
    this.record.result = result;
    Object.assign(this.#current(), { status: "completed", ended_at: at });
    return { ...this.#base(), kind: "completed", task: this.snapshot(), result };
  }

  /** An attempt fails: `retrying` (back to pending) while attempts remain, else `failed`. */
  failed(error: TaskError = { code: "OC-6001", message: "boom", retryable: true }, runMs = 1000): TaskEvent {
    const at = this.tick(runMs);
    Object.assign(this.#current(), { status: "failed", ended_at: at, error });
    this.record.error = error;
    if (this.record.attempt < this.record.spec.retry.max_attempts) {
      this.record.status = "pending";
      this.record.next_attempt_at = this.tick(0);
      return { ...this.#base(), kind: "retrying", task: this.snapshot() };
    }
    this.record.status = "failed";
    this.record.completed_at = at;
    return { ...this.#base(), kind: "failed", task: this.snapshot() };
  }

  timedOut(): TaskEvent {
    const at = this.tick(this.record.spec.timeout_ms);
    const error = { code: "OC-6004", message: "ran past its timeout", retryable: false };
    Object.assign(this.#current(), { status: "timeout", ended_at: at, error });
    this.record.status = "timeout";
    this.record.error = error;
    this.record.completed_at = at;
    return { ...this.#base(), kind: "timeout", task: this.snapshot() };
  }

  cancelled(): TaskEvent {
    const at = this.tick(100);
    if (this.record.attempts.length > 0 && this.#current().ended_at === null) {
      Object.assign(this.#current(), { status: "cancelled", ended_at: at });
    }
    this.record.status = "cancelled";
    this.record.cancel_requested = true;
    this.record.completed_at = at;
    return { ...this.#base(), kind: "cancelled", task: this.snapshot() };
  }

  /** The scheduler took a retry request: back to pending. */
  retried(): TaskEvent {
    this.record.status = "pending";
    this.record.error = null;
    this.record.completed_at = null;
    this.record.cancel_requested = false;
    return { ...this.#base(), kind: "retrying", task: this.snapshot() };
  }
}

/** Publishes events the way the scheduler does (JetStream, acknowledged). */
export async function publishTaskEvents(ctx: ServiceContext, ...events: TaskEvent[]): Promise<number[]> {
  const { js, names } = ctx.cluster;
  const seqs: number[] = [];
  for (const e of events) {
    const ack = await js.publish(names.subjects.taskEvent(e.task_id, e.kind), encode(e), { msgID: e.id });
    seqs.push(ack.seq);
  }
  return seqs;
}

/** Writes events straight into the store, with made-up stream sequences after the cursor. */
export function storeEvents(store: NodeStore, ...events: TaskEvent[]): void {
  let seq = store.eventCursor();
  store.recordEvents(events.map((event) => ({ seq: ++seq, scope: "task", event })));
}
