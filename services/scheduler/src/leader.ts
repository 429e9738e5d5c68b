import {
  decode,
  encode,
  errorMessage,
  isCasConflict,
  type JsMsg,
  readAll,
  type ServiceContext,
} from "@openclaw/bus";
import {
  envelope,
  isTerminal,
  type QueueStats,
  type TaskAbort,
  TaskCancel,
  type TaskDispatch,
  type TaskEvent,
  type TaskEventKind,
  TaskRecord,
  TaskReport,
  TaskRetry,
  TaskSubmit,
} from "@openclaw/protocol";
import type { NodeTable } from "./node-table.js";
import { place } from "./placement.js";
import { DelayQueue, PendingQueue, placementClass } from "./queue.js";
import {
  cancelled,
  dispatched,
  failed,
  lost,
  newRecord,
  retried,
  snapshot,
  started,
  succeeded,
} from "./records.js";

interface Held {
  record: TaskRecord;
  /** KV revision of the record; 0 before it is stored. */
  revision: number;
}

interface OutboxItem {
  subject: string;
  data: Uint8Array;
  msgID: string;
}

type SchedulerEventKind = Exclude<TaskEventKind, "progress" | "checkpointed">;

/**
 * What only the leader does: owns every live task (in memory, mirrored in the `tasks` bucket),
 * consumes the scheduler's inbox, places pending tasks and dispatches them. Every change runs
 * through one serial chain, so handlers never interleave.
 */
export class LeaderState {
  readonly #ctx: ServiceContext;
  readonly #nodes: NodeTable;
  readonly #tasks = new Map<string, Held>();
  readonly #queue: PendingQueue;
  readonly #delayed = new DelayQueue();
  readonly #inflight = new Map<string, number>();
  readonly #cursors = new Map<string, number>();
  /** The reason each blocked placement class last recorded on its tasks. */
  readonly #classReasons = new Map<string, string>();
  #chain: Promise<void> = Promise.resolve();
  #messages: { close(): Promise<unknown> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scheduleQueued = false;
  #tickQueued = false;
  #stopped = false;
  readonly #isLeader: () => boolean;
  /** The worker session each dispatched attempt went to: a new session means the attempt died with the old one. */
  readonly #sessions = new Map<string, string>();
  /** Attempts cancelled while running, by task id: the abort is sent again while the node still runs them. */
  readonly #cancelledRunning = new Map<string, { nodeId: string; record: TaskRecord; at: number }>();
  /** Events that failed to publish, retried every tick, in order. */
  #outbox: OutboxItem[] = [];

  constructor(ctx: ServiceContext, nodes: NodeTable, isLeader: () => boolean) {
    this.#ctx = ctx;
    this.#nodes = nodes;
    this.#isLeader = isLeader;
    this.#queue = new PendingQueue(ctx.config.scheduler.aging_interval);
  }

  /** Rebuilds the live tasks from the bucket (while taking over; nothing is written yet). */
  async rebuild(): Promise<void> {
    const { cluster, log } = this.#ctx;
    const all = await readAll(cluster.kv.tasks, TaskRecord, log);
    const now = Date.now();
    // In submission order, aged from submission: a failover keeps the queue's order and aging.
    const live = all
      .filter(({ key, value }) => key === value.spec.task_id && !isTerminal(value.status))
      .sort((a, b) => a.value.submitted_at.localeCompare(b.value.submitted_at));
    for (const { key, value, revision } of live) {
      this.#tasks.set(key, { record: value, revision });
      if (value.status === "pending") this.#enqueue(value, now);
      else if (value.assigned_node) {
        this.#occupy(value.assigned_node);
        const session = this.#nodes.session(value.assigned_node);
        if (session) this.#sessions.set(key, session);
      }
    }
    log.info(
      { live_tasks: this.#tasks.size, pending: this.#queue.size + this.#delayed.size },
      "scheduler state rebuilt",
    );
  }

  /** Starts consuming the inbox and placing: once leadership is active. */
  run(): void {
    if (this.#stopped) return;
    void this.#consume();
    this.#timer = setInterval(() => {
      // One tick at a time: when a tick is slower than the interval, they do not pile up.
      if (this.#tickQueued) return;
      this.#tickQueued = true;
      void this.#serial(async () => {
        this.#tickQueued = false;
        await this.#tick();
      });
    }, this.#ctx.config.scheduler.interval);
    this.requestSchedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#messages?.close();
    await this.#chain;
  }

  /** Something changed (a node, a task): place again soon, once. */
  requestSchedule(): void {
    if (this.#scheduleQueued || this.#stopped) return;
    this.#scheduleQueued = true;
    void this.#serial(async () => {
      this.#scheduleQueued = false;
      await this.#schedule();
    });
  }

  /** Where this task would go now: a dry run for `TaskRouter.route`. */
  route(spec: TaskRecord["spec"]): { node_id: string | null; reason: string | null } {
    const p = place(spec, this.#nodes.views(this.#inflight), {
      strategy: this.#ctx.config.scheduler.strategy,
      cursors: new Map(this.#cursors),
      classKey: placementClass(spec),
    });
    return p.node ? { node_id: p.node.id, reason: null } : { node_id: null, reason: p.reason };
  }

  #serial(work: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(work).catch((err) => {
      this.#ctx.log.error({ error: errorMessage(err), error_code: "OC-5000" }, "scheduler step failed");
    });
    return this.#chain;
  }

  #occupy(nodeId: string): void {
    this.#inflight.set(nodeId, (this.#inflight.get(nodeId) ?? 0) + 1);
  }

  #release(nodeId: string | null): void {
    if (!nodeId) return;
    const n = (this.#inflight.get(nodeId) ?? 0) - 1;
    if (n > 0) this.#inflight.set(nodeId, n);
    else this.#inflight.delete(nodeId);
  }

  #enqueue(rec: TaskRecord, now: number): void {
    const at = rec.next_attempt_at ? Date.parse(rec.next_attempt_at) : 0;
    if (at > now) this.#delayed.add(rec.spec.task_id, at);
    else this.#queue.add(rec.spec, Math.min(now, Date.parse(rec.submitted_at) || now));
  }

  async #consume(): Promise<void> {
    const { cluster, log } = this.#ctx;
    const { names } = cluster;
    while (!this.#stopped) {
      try {
        const consumer = await cluster.js.consumers.get(names.streams.sched, names.consumers.scheduler);
        const messages = await consumer.consume({ max_messages: 256 });
        this.#messages = messages;
        if (this.#stopped) await messages.close();
        for await (const m of messages) {
          await this.#serial(() => this.#handle(m));
        }
      } catch (err) {
        if (this.#stopped) return;
        log.warn({ error: errorMessage(err) }, "consuming the scheduler inbox failed; retrying");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async #handle(m: JsMsg): Promise<void> {
    const { names } = this.#ctx.cluster;
    const s = names.subjects;
    try {
      if (m.subject === s.schedSubmit) await this.#onSubmit(m);
      else if (m.subject === s.schedCancel) await this.#onCancel(m);
      else if (m.subject === s.schedRetry) await this.#onRetry(m);
      else if (m.subject.startsWith(`${names.prefix}.sched.report.`)) await this.#onReport(m);
      else this.#drop(m, "unknown subject");
      m.ack();
    } catch (err) {
      this.#ctx.log.error(
        { subject: m.subject, error: errorMessage(err), error_code: "OC-5000" },
        "scheduler message failed; will retry",
      );
      m.nak(1000);
    }
  }

  #drop(m: JsMsg, error: string): void {
    this.#ctx.log.warn(
      { subject: m.subject, error_code: "OC-2002", error },
      "invalid scheduler message dropped",
    );
  }

  async #onSubmit(m: JsMsg): Promise<void> {
    const d = decode(TaskSubmit, m.data);
    if (!d.ok) return this.#drop(m, d.error);
    const spec = d.value.task;
    if (this.#tasks.has(spec.task_id)) return; // a repeat of a live task
    const held: Held = { record: newRecord(spec, d.value.submitted_at), revision: 0 };
    try {
      held.revision = await this.#ctx.cluster.kv.tasks.create(spec.task_id, encode(held.record));
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      // The same id was submitted before: one task, not two. But if its record is live and not
      // held (an earlier create landed and its reply was lost), take it over now.
      await this.#adopt(spec.task_id, d.value.task.payload);
      return;
    }
    this.#tasks.set(spec.task_id, held);
    this.#queue.add(spec, Date.now());
    await this.#event("submitted", held.record, { payload: spec.payload });
    this.requestSchedule();
  }

  /** A live record this leader does not hold yet: hold it, queue or count it, and announce it. */
  async #adopt(taskId: string, payload: unknown): Promise<void> {
    const entry = await this.#ctx.cluster.kv.tasks.get(taskId);
    if (entry?.operation !== "PUT" || this.#tasks.has(taskId)) return;
    const d = decode(TaskRecord, entry.value);
    if (!d.ok || isTerminal(d.value.status)) return;
    this.#tasks.set(taskId, { record: d.value, revision: entry.revision });
    if (d.value.status === "pending") this.#enqueue(d.value, Date.now());
    else if (d.value.assigned_node) this.#occupy(d.value.assigned_node);
    this.#ctx.log.warn({ task_id: taskId }, "took over a task record the scheduler did not hold");
    await this.#event("submitted", d.value, { payload });
    this.requestSchedule();
  }

  async #onCancel(m: JsMsg): Promise<void> {
    const d = decode(TaskCancel, m.data);
    if (!d.ok) return this.#drop(m, d.error);
    const held = this.#tasks.get(d.value.task_id);
    if (!held) return; // unknown or already finished
    const before = held.record;
    this.#queue.remove(before.spec.task_id);
    this.#delayed.remove(before.spec.task_id);
    const rec = cancelled(before, d.value.reason, Date.now());
    await this.#save(held, rec);
    this.#finish(before.spec.task_id, before);
    if (rec.cancel_requested && before.assigned_node) {
      this.#abort(before.assigned_node, before, d.value.reason || "cancelled");
      this.#cancelledRunning.set(before.spec.task_id, {
        nodeId: before.assigned_node,
        record: before,
        at: Date.now(),
      });
    }
    await this.#event("cancelled", rec);
    this.requestSchedule();
  }

  async #onRetry(m: JsMsg): Promise<void> {
    const d = decode(TaskRetry, m.data);
    if (!d.ok) return this.#drop(m, d.error);
    const id = d.value.task_id;
    if (this.#tasks.has(id)) return; // still live: nothing to retry
    const entry = await this.#ctx.cluster.kv.tasks.get(id);
    if (entry?.operation !== "PUT") return;
    const current = decode(TaskRecord, entry.value);
    if (!current.ok || !["failed", "timeout", "cancelled"].includes(current.value.status)) return;
    const held: Held = { record: current.value, revision: entry.revision };
    const rec = retried(current.value);
    await this.#save(held, rec);
    this.#tasks.set(id, held);
    this.#queue.add(rec.spec, Date.now());
    await this.#event("retrying", rec);
    this.requestSchedule();
  }

  async #onReport(m: JsMsg): Promise<void> {
    const d = decode(TaskReport, m.data);
    if (!d.ok) return this.#drop(m, d.error);
    const r = d.value;
    const held = this.#tasks.get(r.task_id);
    // Fencing: only the current attempt on the node it was given to may change the task.
    if (!held || held.record.attempt !== r.attempt || held.record.assigned_node !== r.node_id) {
      this.#ctx.log.debug(
        { task_id: r.task_id, attempt: r.attempt, node_id: r.node_id },
        "stale report ignored",
      );
      return;
    }
    const now = Date.now();
    const before = held.record;
    if (r.kind === "started") {
      if (before.status !== "scheduled") return;
      const rec = started(before, now);
      await this.#save(held, rec);
      await this.#event("started", rec);
      return;
    }
    if (r.kind === "succeeded") {
      const rec = succeeded(before, r.result, now);
      if (!this.#fits(rec)) {
        // A result that cannot be stored with its task would be retried forever: fail it instead.
        const error = {
          code: "OC-6007",
          message: `the result (${encode(r.result).length} bytes) does not fit the task record under the NATS server's max_payload; return less, or a reference to where the data is`,
          retryable: false,
        };
        const { record: failedRec } = failed(before, error, now);
        await this.#save(held, failedRec);
        this.#finish(r.task_id, before);
        await this.#event("failed", failedRec);
        this.requestSchedule();
        return;
      }
      await this.#save(held, rec);
      this.#finish(r.task_id, before);
      this.#nodes.recordOutcome(r.node_id, true, r.duration_ms);
      await this.#event("completed", rec, { result: r.result });
      this.requestSchedule();
      return;
    }
    if (r.error.code === "OC-6009") {
      // The worker stopped or crashed under the attempt: not the task's fault.
      await this.#takeBack(held, r.error.message || `node ${r.node_id} lost the attempt`, now);
      return;
    }
    const { record: rec, retryAt } = failed(before, r.error, now);
    await this.#save(held, rec);
    this.#sessions.delete(r.task_id);
    if (r.error.code !== "OC-6005") this.#nodes.recordOutcome(r.node_id, false, r.duration_ms);
    if (retryAt !== undefined) {
      this.#release(before.assigned_node);
      this.#delayed.add(r.task_id, retryAt);
      await this.#event("retrying", rec);
    } else {
      this.#finish(r.task_id, before);
      await this.#event(rec.status === "timeout" ? "timeout" : "failed", rec);
    }
    this.requestSchedule();
  }

  /** The task is done: forget it and free its node's slot. */
  #finish(taskId: string, before: TaskRecord): void {
    this.#tasks.delete(taskId);
    this.#sessions.delete(taskId);
    if (before.status === "scheduled" || before.status === "running") this.#release(before.assigned_node);
  }

  #abort(nodeId: string, rec: TaskRecord, reason: string): void {
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
  async #save(held: Held, rec: TaskRecord): Promise<void> {
    const kv = this.#ctx.cluster.kv.tasks;
    const id = rec.spec.task_id;
    // Fencing: a leader that has lost its lease (or is stopping) writes nothing more.
    if (this.#stopped || !this.#isLeader()) throw new Error("not the scheduler leader any more");
    const value = encode(rec);
    try {
      held.revision =
        held.revision === 0 ? await kv.create(id, value) : await kv.update(id, value, held.revision);
    } catch (err) {
      if (!isCasConflict(err)) throw err;
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

  async #event(
    kind: SchedulerEventKind,
    rec: TaskRecord,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const { cluster } = this.#ctx;
    const event = {
      ...envelope(this.#ctx.sender),
      task_id: rec.spec.task_id,
      kind,
      task: snapshot(rec),
      ...extra,
    } as TaskEvent;
    const item = {
      subject: cluster.names.subjects.taskEvent(rec.spec.task_id, kind),
      data: encode(event),
      msgID: event.id,
    };
    // In order: while older events wait in the outbox, newer ones queue behind them.
    if (this.#outbox.length > 0) {
      this.#outbox.push(item);
      return;
    }
    try {
      await cluster.js.publish(item.subject, item.data, { msgID: item.msgID });
    } catch (err) {
      this.#ctx.log.warn(
        { task_id: rec.spec.task_id, kind, error: errorMessage(err) },
        "task event not published; will retry",
      );
      this.#outbox.push(item);
    }
  }

  /**
   * Periodic: publish events that failed before, move attempts off nodes that died, take back
   * attempts never started, end overdue ones, place, publish queue figures.
   */
  async #tick(): Promise<void> {
    await this.#flushOutbox();
    const now = Date.now();
    this.#reAbort(now);
    for (const held of [...this.#tasks.values()]) {
      try {
        await this.#check(held, now);
      } catch (err) {
        // One task's trouble (a record that will not save) must not stall every other.
        this.#ctx.log.warn(
          { task_id: held.record.spec.task_id, error: errorMessage(err) },
          "task check failed",
        );
      }
    }
    await this.#schedule();
    await this.#publishStats();
  }

  /** Whether a record fits one NATS message (with room for the KV headers). */
  #fits(rec: TaskRecord): boolean {
    const max = this.#ctx.cluster.nc.info?.max_payload;
    return !max || encode(rec).length <= max - 4096;
  }

  /** A cancel's abort is sent once; while a node's heartbeat still lists such an attempt, send it again. */
  #reAbort(now: number): void {
    for (const [id, c] of this.#cancelledRunning) {
      if (now - c.at > 600_000) this.#cancelledRunning.delete(id);
      else if (this.#nodes.running(c.nodeId).includes(id)) this.#abort(c.nodeId, c.record, "cancelled");
      else if (now - c.at > 30_000) this.#cancelledRunning.delete(id);
    }
  }

  async #flushOutbox(): Promise<void> {
    const { js } = this.#ctx.cluster;
    while (this.#outbox.length > 0) {
      const item = this.#outbox[0] as OutboxItem;
      try {
        await js.publish(item.subject, item.data, { msgID: item.msgID });
      } catch {
        return; // still failing: try again next tick, in order
      }
      this.#outbox.shift();
    }
  }

  /** Timeouts and failover of one live attempt. */
  async #check(held: Held, now: number): Promise<void> {
    const r = held.record;
    if (r.status !== "scheduled" && r.status !== "running") return;
    const node = r.assigned_node;
    // Failover: the node left or went offline, or its worker restarted (a new session), so this
    // attempt will never finish. Place it again at once; it resumes from its last checkpoint.
    const gone = node ? this.#nodes.gone(node) : null;
    const dispatchedTo = this.#sessions.get(r.spec.task_id);
    const restarted = node && dispatchedTo && this.#nodes.session(node) !== dispatchedTo ? "restarted" : null;
    if (node && (gone || restarted)) {
      await this.#takeBack(held, `node ${node} ${gone ?? restarted}`, now);
      return;
    }
    // Dispatched but never started: the node hung, or the order was lost (a leader died between
    // writing the record and publishing the order).
    const dispatchTimeout = this.#ctx.config.scheduler.dispatch_timeout;
    if (r.status === "scheduled" && r.scheduled_at && Date.parse(r.scheduled_at) + dispatchTimeout < now) {
      if (node) this.#abort(node, r, "not started in time");
      await this.#takeBack(held, `node ${node} did not start the attempt within ${dispatchTimeout} ms`, now);
      return;
    }
    // A backstop for a worker that went silent mid-task: well past its timeout, the attempt is over.
    if (
      r.status === "running" &&
      r.started_at &&
      Date.parse(r.started_at) + r.spec.timeout_ms + 30_000 < now
    ) {
      if (node) this.#abort(node, r, "timed out");
      const { record: rec, retryAt } = failed(
        r,
        { code: "OC-6004", message: "no result within the timeout", retryable: true },
        now,
      );
      await this.#save(held, rec);
      this.#sessions.delete(r.spec.task_id);
      if (retryAt !== undefined) {
        this.#release(node);
        this.#delayed.add(r.spec.task_id, retryAt);
        await this.#event("retrying", rec);
      } else {
        this.#finish(r.spec.task_id, r);
        await this.#event("timeout", rec);
      }
    }
  }

  /** The attempt is lost through no fault of the task: back to the queue now, not counted. */
  async #takeBack(held: Held, reason: string, now: number): Promise<void> {
    const r = held.record;
    const rec = lost(r, reason, now);
    await this.#save(held, rec);
    this.#ctx.log.warn(
      { task_id: r.spec.task_id, node_id: r.assigned_node, reason },
      "attempt lost; placing the task again",
    );
    this.#sessions.delete(r.spec.task_id);
    this.#release(r.assigned_node);
    this.#queue.add(rec.spec, now);
    await this.#event("retrying", rec);
    this.requestSchedule();
  }

  async #publishStats(): Promise<void> {
    let scheduled = 0;
    let running = 0;
    for (const { record } of this.#tasks.values()) {
      if (record.status === "scheduled") scheduled += 1;
      else if (record.status === "running") running += 1;
    }
    const byPriority = this.#queue.byPriority();
    const stats: QueueStats = {
      leader: this.#ctx.sender.instance,
      pending: this.#queue.size + this.#delayed.size,
      pending_by_priority: byPriority,
      scheduled,
      running,
      updated_at: new Date().toISOString(),
    };
    await this.#ctx.cluster.kv.scheduler.put("queue", encode(stats));
  }

  /** Places as many pending tasks as nodes have room for, best first. */
  async #schedule(): Promise<void> {
    const now = Date.now();
    for (const id of this.#delayed.due(now)) {
      const held = this.#tasks.get(id);
      if (held?.record.status === "pending") this.#queue.add(held.record.spec, now);
    }
    const blocked = new Map<string, string>();
    const strategy = this.#ctx.config.scheduler.strategy;
    for (;;) {
      // A deposed or stopping leader places nothing more, even mid-round.
      if (this.#stopped || !this.#isLeader()) return;
      const pick = this.#queue.next(now, (key) => !blocked.has(key));
      if (!pick) break;
      const held = this.#tasks.get(pick.taskId);
      if (held?.record.status !== "pending") {
        this.#queue.remove(pick.taskId);
        continue;
      }
      const lostOn = new Set(held.record.attempts.filter((a) => a.status === "lost").map((a) => a.node_id));
      const p = place(held.record.spec, this.#nodes.views(this.#inflight), {
        strategy,
        cursors: this.#cursors,
        classKey: pick.classKey,
        avoid: lostOn,
      });
      if (!p.node) {
        blocked.set(pick.classKey, p.reason);
        continue;
      }
      this.#queue.remove(pick.taskId);
      try {
        await this.#dispatch(held, p.node.id, now);
      } catch (err) {
        if (this.#stopped || !this.#isLeader()) return;
        this.#ctx.log.warn(
          { task_id: pick.taskId, error: errorMessage(err) },
          "dispatch failed; the task stays queued",
        );
        // Still pending (the record was not written): back in the queue, and this kind waits for the next round.
        if (held.record.status === "pending")
          this.#queue.add(held.record.spec, Date.parse(held.record.submitted_at) || now);
        blocked.set(pick.classKey, "dispatch failed; retrying");
      }
    }
    await this.#recordReasons(blocked);
  }

  async #dispatch(held: Held, nodeId: string, now: number): Promise<void> {
    const { cluster } = this.#ctx;
    const rec = dispatched(held.record, nodeId, now);
    await this.#save(held, rec);
    this.#occupy(nodeId);
    const session = this.#nodes.session(nodeId);
    if (session) this.#sessions.set(rec.spec.task_id, session);
    const msg: TaskDispatch = { ...envelope(this.#ctx.sender), task: rec.spec, attempt: rec.attempt };
    await cluster.js.publish(cluster.names.subjects.dispatch(nodeId), encode(msg), {
      msgID: `${rec.spec.task_id}-${rec.attempt}`,
    });
    await this.#event("scheduled", rec);
  }

  /** A task nobody can run says why in its record, updated only when the reason changes. */
  async #recordReasons(blocked: Map<string, string>): Promise<void> {
    for (const key of [...this.#classReasons.keys()]) if (!blocked.has(key)) this.#classReasons.delete(key);
    for (const [key, reason] of blocked) {
      this.#classReasons.set(key, reason);
      for (const id of this.#queue.tasksOf(key)) {
        const held = this.#tasks.get(id);
        if (!held || held.record.waiting_reason === reason) continue;
        const rec = { ...held.record, waiting_reason: reason };
        await this.#save(held, rec);
        await this.#event("waiting", rec);
      }
    }
  }

  /** Counts for tests and stats. */
  get pendingCount(): number {
    return this.#queue.size + this.#delayed.size;
  }
}
