import { encode, errorMessage, isCasConflict, type ServiceContext } from "@openclaw/bus";
import { envelope, type QueueStats, type TaskDispatch, type TaskSpec } from "@openclaw/protocol";
import type { Held, TaskBook } from "./book.js";
import { schedulerMetrics } from "./metrics.js";
import type { NodeTable } from "./node-table.js";
import { place } from "./placement.js";
import { placementClass } from "./queue.js";
import { dispatched } from "./records.js";

/**
 * Placement rounds: takes pending tasks best first, chooses a node by the strategy, writes the
 * record and sends the order; a task that cannot be placed says why in its record.
 */
export class Placer {
  readonly #ctx: ServiceContext;
  readonly #book: TaskBook;
  readonly #nodes: NodeTable;
  /** Round-robin position per placement class. */
  readonly #cursors = new Map<string, number>();
  /** The reason each blocked placement class last recorded on its tasks, and the class's add count then. */
  readonly #classReasons = new Map<string, { reason: string | null; adds: number }>();

  constructor(ctx: ServiceContext, book: TaskBook, nodes: NodeTable) {
    this.#ctx = ctx;
    this.#book = book;
    this.#nodes = nodes;
  }

  /** Where this task would go now: a dry run for `TaskRouter.route`. */
  route(spec: TaskSpec): { node_id: string | null; reason: string | null } {
    const p = place(spec, this.#book.views(Date.now()), {
      strategy: this.#ctx.config.scheduler.strategy,
      cursors: new Map(this.#cursors),
      classKey: placementClass(spec),
    });
    return p.node ? { node_id: p.node.id, reason: null } : { node_id: null, reason: p.reason };
  }

  /**
   * Places as many pending tasks as nodes have room for, best first, while `active()`. Decisions
   * are made one by one; their record writes, orders and events are in flight together.
   */
  async schedule(active: () => boolean): Promise<void> {
    const endRound = schedulerMetrics.round.startTimer();
    try {
      await this.#round(active);
    } finally {
      endRound();
    }
  }

  async #round(active: () => boolean): Promise<void> {
    const book = this.#book;
    const now = Date.now();
    for (const id of book.delayed.due(now)) {
      const held = book.tasks.get(id);
      if (held?.record.status === "pending") book.queue.add(held.record.spec, now);
    }
    /** Classes that cannot be placed now, with the reason to record (null: they only wait for a slot). */
    const blocked = new Map<string, string | null>();
    const strategy = this.#ctx.config.scheduler.strategy;
    const orders: Promise<void>[] = [];
    for (;;) {
      // A deposed or stopping leader places nothing more, even mid-round.
      if (!active()) break;
      const pick = book.queue.next(now, (key) => !blocked.has(key));
      if (!pick) break;
      const held = book.tasks.get(pick.taskId);
      if (held?.record.status !== "pending") {
        book.queue.remove(pick.taskId);
        continue;
      }
      const lostOn = new Set(held.record.attempts.filter((a) => a.status === "lost").map((a) => a.node_id));
      const p = place(held.record.spec, book.views(now), {
        strategy,
        cursors: this.#cursors,
        classKey: pick.classKey,
        avoid: lostOn,
      });
      if (!p.node) {
        // A full cluster is plain queueing: not written into every waiting task (that would cost
        // a record write and an event per task); only a reason to act on is.
        blocked.set(pick.classKey, p.busy ? null : p.reason);
        schedulerMetrics.unplaced.inc({ why: p.busy ? "full" : "no_node" });
        continue;
      }
      book.queue.remove(pick.taskId);
      // The slot is taken now, so the next decision sees it; the orders go out together below.
      book.occupy(p.node.id);
      book.breakers.dispatched(p.node.id);
      const classKey = pick.classKey;
      const nodeId = p.node.id;
      orders.push(
        this.#dispatch(held, nodeId, now).catch((err) => {
          if (!active()) return;
          if (held.revision === 0 && isCasConflict(err)) {
            // A new task whose id exists already: the submission's handler sorts it out.
            book.release(nodeId);
            return;
          }
          this.#ctx.log.warn(
            { task_id: held.record.spec.task_id, error: errorMessage(err) },
            "dispatch failed; the task stays queued",
          );
          // Still pending (the record was not written): its slot is free again, it is back in the
          // queue, and this kind waits for the next round. (Written but not sent: the dispatch
          // timeout takes it back.)
          if (held.record.status === "pending") {
            book.release(nodeId);
            book.queue.add(held.record.spec, Date.parse(held.record.submitted_at) || now);
          }
          blocked.set(classKey, "dispatch failed; retrying");
        }),
      );
    }
    await Promise.all(orders);
    if (active()) await this.#recordReasons(blocked);
  }

  async #dispatch(held: Held, nodeId: string, now: number): Promise<void> {
    const { cluster } = this.#ctx;
    const book = this.#book;
    // A task submitted in this batch, not written yet: its first write is this one, as scheduled.
    const submitted = held.revision === 0 ? held.record : undefined;
    const rec = dispatched(held.record, nodeId, now);
    await book.save(held, rec);
    if (submitted) {
      // Its submitted event first, with the record as it would have been.
      void book.events.publish(
        "submitted",
        submitted,
        held.revision,
        { payload: submitted.spec.payload },
        "-submitted",
      );
    }
    const session = this.#nodes.session(nodeId);
    if (session) book.sessions.set(rec.spec.task_id, session);
    const msg: TaskDispatch = { ...envelope(this.#ctx.sender), task: rec.spec, attempt: rec.attempt };
    await cluster.js.publish(cluster.names.subjects.dispatch(nodeId), encode(msg), {
      msgID: `${rec.spec.task_id}-${rec.attempt}`,
    });
    void book.event("scheduled", held);
    schedulerMetrics.placements.inc();
  }

  /**
   * A task nobody can run says why in its record, updated only when the reason changes; one
   * that only waits for a free slot has none (a stale reason is cleared).
   */
  async #recordReasons(blocked: Map<string, string | null>): Promise<void> {
    const book = this.#book;
    for (const key of [...this.#classReasons.keys()]) if (!blocked.has(key)) this.#classReasons.delete(key);
    for (const [key, reason] of blocked) {
      // Every task of the class says so already, unless the reason changed or tasks came in.
      const adds = book.queue.addsOf(key);
      const last = this.#classReasons.get(key);
      if (last?.reason === reason && last.adds === adds) continue;
      this.#classReasons.set(key, { reason, adds });
      for (const id of book.queue.tasksOf(key)) {
        const held = book.tasks.get(id);
        if (!held || held.record.waiting_reason === reason) continue;
        const rec = { ...held.record, waiting_reason: reason };
        if (held.revision === 0) {
          // Submitted in this batch and not written yet: its first write (as pending) says why.
          held.record = rec;
          continue;
        }
        await book.save(held, rec);
        await book.event("waiting", held);
      }
    }
  }

  /** Queue figures for clients (the `queue` key of the scheduler bucket). */
  async publishStats(): Promise<void> {
    const book = this.#book;
    let scheduled = 0;
    let running = 0;
    for (const { record } of book.tasks.values()) {
      if (record.status === "scheduled") scheduled += 1;
      else if (record.status === "running") running += 1;
    }
    const stats: QueueStats = {
      leader: this.#ctx.sender.instance,
      pending: book.pendingCount,
      pending_by_priority: book.queue.byPriority(),
      scheduled,
      running,
      updated_at: new Date().toISOString(),
    };
    for (const [priority, n] of Object.entries(stats.pending_by_priority))
      schedulerMetrics.queueDepth.set({ priority }, n);
    await this.#ctx.cluster.kv.scheduler.put("queue", encode(stats));
  }
}
