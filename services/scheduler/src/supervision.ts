import { errorMessage, type ServiceContext } from "@openclaw/bus";
import type { Held, TaskBook } from "./book.js";
import type { NodeTable } from "./node-table.js";

/** Past a task's own timeout, how long a silent running attempt is given before it is ended. */
const SILENCE_GRACE_MS = 30_000;

/** How far the leader has read its inbox (SCHED stream sequences). */
export interface InboxProgress {
  /** Every message up to this sequence has been handled. */
  handled: number;
  /** The stream's last sequence now. */
  last: number;
}

/**
 * The leader's periodic look at every live attempt: failover off nodes that died or restarted,
 * attempts never started (dispatch timeout), attempts a live node stopped listing, attempts gone
 * silent past their timeout; and aborts for attempts nodes run that are no longer theirs.
 */
export class Supervision {
  readonly #ctx: ServiceContext;
  readonly #book: TaskBook;
  readonly #nodes: NodeTable;
  /**
   * Per task, the inbox sequence that must be handled before a verdict against its attempt is
   * acted on: the report that would contradict it (sent before the evidence) may still be queued.
   */
  readonly #verdicts = new Map<string, number>();
  #inbox: InboxProgress = { handled: 0, last: 0 };

  constructor(ctx: ServiceContext, book: TaskBook, nodes: NodeTable) {
    this.#ctx = ctx;
    this.#book = book;
    this.#nodes = nodes;
  }

  /** Verdicts found but not acted on yet: they wait for queued inbox messages to be handled. */
  get waiting(): number {
    return this.#verdicts.size;
  }

  async check(now: number, inbox: InboxProgress): Promise<void> {
    this.#inbox = inbox;
    this.#abortStrays(now);
    for (const id of this.#verdicts.keys()) if (!this.#book.tasks.has(id)) this.#verdicts.delete(id);
    for (const held of [...this.#book.tasks.values()]) {
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
  }

  /**
   * Tells nodes to abort attempts they still run that are not theirs any more: moved elsewhere
   * after a partition (the node was paused or cut off and declared dead), cancelled, or ended.
   */
  #abortStrays(now: number): void {
    const book = this.#book;
    const live = (id: string) => book.tasks.get(id)?.record;
    for (const { nodeId, record } of book.checks.strays(this.#nodes.heartbeats(), live, now)) {
      this.#ctx.log.info(
        { task_id: record.spec.task_id, node_id: nodeId, attempt: record.attempt },
        "node still runs an attempt that is not its own; telling it to abort",
      );
      book.abort(nodeId, record, "the attempt is no longer this node's");
    }
  }

  /**
   * Whether a verdict against the task's current attempt may be acted on now: only once every
   * inbox message that was stored when the evidence was first seen has been handled (a report
   * the attempt's node sent before, e.g. its result, would overrule it).
   */
  #ripe(taskId: string): boolean {
    if (!Number.isSafeInteger(this.#inbox.last)) return false; // progress unknown this round
    const need = this.#verdicts.get(taskId) ?? this.#inbox.last;
    this.#verdicts.set(taskId, need);
    return this.#inbox.handled >= need;
  }

  /** Timeouts and failover of one live attempt. */
  async #check(held: Held, now: number): Promise<void> {
    const r = held.record;
    if (r.status !== "scheduled" && r.status !== "running") {
      this.#verdicts.delete(r.spec.task_id);
      return;
    }
    const verdict = this.#verdict(held, now);
    if (!verdict) {
      this.#verdicts.delete(r.spec.task_id);
      return;
    }
    if (this.#ripe(r.spec.task_id)) {
      this.#verdicts.delete(r.spec.task_id);
      await verdict();
    }
  }

  /** What is wrong with the live attempt, as the action that deals with it, or undefined. */
  #verdict(held: Held, now: number): (() => Promise<void>) | undefined {
    const book = this.#book;
    const r = held.record;
    const node = r.assigned_node;
    // Failover: the node left or went offline, or its worker restarted (a new session), so this
    // attempt will never finish. Place it again at once; it resumes from its last checkpoint.
    const gone = node ? this.#nodes.gone(node) : null;
    const dispatchedTo = book.sessions.get(r.spec.task_id);
    const restarted = node && dispatchedTo && this.#nodes.session(node) !== dispatchedTo ? "restarted" : null;
    if (node && (gone || restarted))
      return () => book.takeBack(held, `node ${node} ${gone ?? restarted}`, now);
    // Dispatched but never started: the node hung, or the order was lost (a leader died between
    // writing the record and publishing the order).
    const dispatchTimeout = this.#ctx.config.scheduler.dispatch_timeout;
    if (r.status === "scheduled" && r.scheduled_at && Date.parse(r.scheduled_at) + dispatchTimeout < now) {
      return () => {
        if (node) {
          book.abort(node, r, "not started in time");
          // The node's fault (docs/reliability.md): it was alive and never started it.
          book.breakers.failed(node, `OC-6009: not started within ${dispatchTimeout} ms`, now);
        }
        return book.takeBack(
          held,
          `node ${node} did not start the attempt within ${dispatchTimeout} ms`,
          now,
        );
      };
    }
    // The node is alive but its heartbeats stopped listing the attempt (its worker lost it): take
    // it back now rather than when the node is declared dead or the timeout passes.
    if (r.status === "running" && node && book.checks.unlisted(r, this.#nodes.heartbeat(node))) {
      return () => {
        book.abort(node, r, "not listed in the node's heartbeats");
        book.breakers.failed(node, "OC-6009: dropped from the node's heartbeats while running", now);
        return book.takeBack(held, `node ${node} stopped listing the attempt in its heartbeats`, now);
      };
    }
    // A backstop for a worker that went silent mid-task: well past its timeout, the attempt is over.
    if (
      r.status === "running" &&
      r.started_at &&
      Date.parse(r.started_at) + r.spec.timeout_ms + SILENCE_GRACE_MS < now
    ) {
      return () => {
        const message = "no result within the timeout";
        if (node) {
          book.abort(node, r, "timed out");
          book.breakers.failed(node, `OC-6004: ${message}`, now);
        }
        return book.attemptFailed(held, { code: "OC-6004", message, retryable: true }, now);
      };
    }
    return undefined;
  }
}
