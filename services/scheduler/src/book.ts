import { decode, encode, isCasConflict, type ServiceContext } from "@openclaw/bus";
import { envelope, type TaskAbort, type TaskError, TaskRecord } from "@openclaw/protocol";
import { Breakers } from "./breaker.js";
import { HeartbeatChecks } from "./heartbeat-checks.js";
import type { NodeTable } from "./node-table.js";
import type { NodeView } from "./placement.js";
import { DelayQueue, PendingQueue } from "./queue.js";
import { failed, lost } from "./records.js";
import { type SchedulerEventKind, TaskEventPublisher } from "./task-events.js";

export interface Held {
  record: TaskRecord;
  /** KV revision of the record; 0 before it is stored. */
  revision: number;
}

/**
 * The leader's books: every live task with its KV revision, the pending and delayed queues,
 * attempts in flight per node, the breakers and heartbeat checks, and the fenced writes and
 * events that change them. The leader's parts (inbox, placement, supervision) share one.
 */
export class TaskBook {
  readonly tasks = new Map<string, Held>();
  readonly queue: PendingQueue;
  readonly delayed = new DelayQueue();
  /** Attempts dispatched per node that have not ended. */
  readonly inflight = new Map<string, number>();
  /** The worker session each dispatched attempt went to: a new session means the attempt died with the old one. */
  readonly sessions = new Map<string, string>();
  readonly breakers: Breakers;
  readonly checks: HeartbeatChecks;
  readonly events: TaskEventPublisher;
  readonly #ctx: ServiceContext;
  readonly #nodes: NodeTable;
  readonly #canWrite: () => boolean;
  readonly #changed: () => void;

  /**
   * @param canWrite whether this process may still write (it leads, and is not stopping)
   * @param changed something changed that placement should look at
   */
  constructor(ctx: ServiceContext, nodes: NodeTable, canWrite: () => boolean, changed: () => void) {
    this.#ctx = ctx;
    this.#nodes = nodes;
    this.#canWrite = canWrite;
    this.#changed = changed;
    const sc = ctx.config.scheduler;
    this.queue = new PendingQueue(sc.aging_interval);
    this.events = new TaskEventPublisher(ctx);
    this.checks = new HeartbeatChecks(ctx.config.health.unhealthy_threshold);
    this.breakers = new Breakers({
      failureThreshold: sc.breaker_failure_threshold,
      recoveryTimeoutMs: sc.breaker_recovery_timeout,
      halfOpenRequests: sc.breaker_half_open_requests,
    });
  }

  /** Nodes as placement sees them now: with attempts in flight, and breakers keeping work off. */
  views(now: number): NodeView[] {
    return this.#nodes.views(this.inflight, (id) => this.breakers.blocked(id, now));
  }

  occupy(nodeId: string): void {
    this.inflight.set(nodeId, (this.inflight.get(nodeId) ?? 0) + 1);
  }

  /** An attempt on the node ended (whatever its outcome): its slot is free. */
  release(nodeId: string | null): void {
    if (!nodeId) return;
    this.breakers.released(nodeId);
    const n = (this.inflight.get(nodeId) ?? 0) - 1;
    if (n > 0) this.inflight.set(nodeId, n);
    else this.inflight.delete(nodeId);
  }

  /** Queues a pending record: now, or when its backoff ends. */
  enqueue(rec: TaskRecord, now: number): void {
    const at = rec.next_attempt_at ? Date.parse(rec.next_attempt_at) : 0;
    if (at > now) this.delayed.add(rec.spec.task_id, at);
    else this.queue.add(rec.spec, Math.min(now, Date.parse(rec.submitted_at) || now));
  }

  /** A live record, queued or counted on its node. */
  hold(held: Held, now: number): void {
    const rec = held.record;
    this.tasks.set(rec.spec.task_id, held);
    if (rec.status === "pending") this.enqueue(rec, now);
    else if (rec.assigned_node) {
      this.occupy(rec.assigned_node);
      const session = this.#nodes.session(rec.assigned_node);
      if (session) this.sessions.set(rec.spec.task_id, session);
    }
  }

  /** The task is done: forget it and free its node's slot. */
  finish(taskId: string, before: TaskRecord): void {
    this.checks.ended(this.tasks.get(taskId)?.record ?? before);
    this.tasks.delete(taskId);
    this.forgetAttempt(taskId);
    if (before.status === "scheduled" || before.status === "running") this.release(before.assigned_node);
  }

  /** The attempt is over: forget what was tracked about it. */
  forgetAttempt(taskId: string): void {
    this.sessions.delete(taskId);
    this.checks.forget(taskId);
  }

  /** Tells the node to abort the record's attempt (core NATS; sent again while it still lists it). */
  abort(nodeId: string, rec: TaskRecord, reason: string): void {
    const { cluster } = this.#ctx;
    const msg: TaskAbort = {
      ...envelope(this.#ctx.sender),
      task_id: rec.spec.task_id,
      attempt: rec.attempt,
      reason,
    };
    cluster.nc.publish(cluster.names.subjects.nodeCommand(nodeId, "cancel"), encode(msg));
  }

  /** Writes a record by compare-and-set; the leader is the only writer, so a conflict is a late write of a deposed one. */
  async save(held: Held, rec: TaskRecord): Promise<void> {
    const kv = this.#ctx.cluster.kv.tasks;
    const id = rec.spec.task_id;
    // Fencing: a leader that has lost its lease (or is stopping) writes nothing more.
    if (!this.#canWrite()) throw new Error("not the scheduler leader any more");
    const value = encode(rec);
    try {
      held.revision =
        held.revision === 0 ? await kv.create(id, value) : await kv.update(id, value, held.revision);
      this.events.saved(id, held.revision);
    } catch (err) {
      // A create that finds the key taken: the id was submitted before (the caller handles it).
      if (!isCasConflict(err) || held.revision === 0) throw err;
      // Someone else wrote it (a leader that had not yet noticed it was deposed). Never overwrite:
      // take what is stored, and let the caller's work be redone against it.
      const entry = await kv.get(id);
      const d = entry?.operation === "PUT" ? decode(TaskRecord, entry.value) : undefined;
      if (entry && d?.ok) {
        held.record = d.value;
        held.revision = entry.revision;
      }
      this.#ctx.log.error(
        { task_id: id, error_code: "OC-5000" },
        "task record changed under the leader; re-reading it",
      );
      throw err;
    }
    held.record = rec;
  }

  /** Announces the held record as saved (its revision makes the event's message id). */
  event(kind: SchedulerEventKind, held: Held, extra: Record<string, unknown> = {}): Promise<void> {
    return this.events.publish(kind, held.record, held.revision, extra);
  }

  /** The attempt is lost through no fault of the task: back to the queue now, not counted. */
  async takeBack(held: Held, reason: string, now: number): Promise<void> {
    const r = held.record;
    const rec = lost(r, reason, now);
    await this.save(held, rec);
    this.#ctx.log.warn(
      { task_id: r.spec.task_id, node_id: r.assigned_node, reason },
      "attempt lost; placing the task again",
    );
    this.forgetAttempt(r.spec.task_id);
    this.release(r.assigned_node);
    // Ahead of its priority level, aged from its submission: it was running, so it resumes first.
    this.queue.add(rec.spec, Math.min(now, Date.parse(rec.submitted_at) || now), true);
    await this.event("retrying", held);
    this.#changed();
  }

  /**
   * The attempt failed with `error`: back to pending after the backoff, or final (`failed`, or
   * `timeout` when the last attempt timed out) once the retry policy is used up.
   */
  async attemptFailed(held: Held, error: TaskError, now: number): Promise<void> {
    const before = held.record;
    const { record: rec, retryAt } = failed(before, error, now);
    await this.save(held, rec);
    this.forgetAttempt(before.spec.task_id);
    if (retryAt !== undefined) {
      this.release(before.assigned_node);
      this.delayed.add(before.spec.task_id, retryAt);
      await this.event("retrying", held);
    } else {
      this.finish(before.spec.task_id, before);
      await this.event(rec.status === "timeout" ? "timeout" : "failed", held);
    }
    this.#changed();
  }

  /** Whether a record fits one NATS message (with room for the KV headers). */
  fits(rec: TaskRecord): boolean {
    const max = this.#ctx.cluster.nc.info?.max_payload;
    return !max || encode(rec).length <= max - 4096;
  }

  get pendingCount(): number {
    return this.queue.size + this.delayed.size;
  }
}
