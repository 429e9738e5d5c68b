import type { TaskRecord } from "@openclaw/protocol";

/** How many ended tasks are remembered, to tell a node that still runs one to stop. */
const ENDED_KEPT = 10_000;
/** An abort to the same node for the same task is sent at most this often. */
const RESEND_MS = 1000;
/** A heartbeat sent just before an attempt started may not list it yet. */
const START_SLACK_MS = 1000;

/** A node's last heartbeat as the registry stored it. */
export interface Heartbeat {
  /** NODES stream sequence of the heartbeat. */
  seq: number;
  /** When the NATS server received it. */
  at: number;
  running: readonly string[];
}

/**
 * Nodes' heartbeats against the scheduler's records, both ways:
 * - a running attempt its live node no longer lists is lost (the worker dropped it);
 * - an attempt a node still lists that is no longer its own (moved after a partition, cancelled,
 *   finished elsewhere) must be aborted there.
 */
export class HeartbeatChecks {
  readonly #unhealthyThreshold: number;
  /** Running attempts missing from their node's heartbeats: the last heartbeat seen, and how many in a row. */
  readonly #unlisted = new Map<string, { seq: number; count: number }>();
  /** Final records of recently ended tasks, oldest first. */
  readonly #ended = new Map<string, TaskRecord>();
  /** When an abort was last sent, by `task/node`. */
  readonly #sent = new Map<string, number>();

  constructor(unhealthyThreshold: number) {
    this.#unhealthyThreshold = unhealthyThreshold;
  }

  /**
   * Whether the node's heartbeats, sent after the running attempt `r` started, have left it out
   * `unhealthyThreshold` times in a row.
   */
  unlisted(r: TaskRecord, hb: Heartbeat | undefined): boolean {
    const id = r.spec.task_id;
    if (
      !hb ||
      !r.started_at ||
      hb.running.includes(id) ||
      hb.at < Date.parse(r.started_at) + START_SLACK_MS
    ) {
      this.#unlisted.delete(id);
      return false;
    }
    const seen = this.#unlisted.get(id) ?? { seq: hb.seq, count: 0 };
    if (seen.count === 0 || seen.seq !== hb.seq) {
      seen.seq = hb.seq;
      seen.count += 1;
    }
    this.#unlisted.set(id, seen);
    return seen.count >= this.#unhealthyThreshold;
  }

  /** The attempt is over: nothing to track about it any more. */
  forget(taskId: string): void {
    this.#unlisted.delete(taskId);
  }

  /** The task ended with this record. */
  ended(rec: TaskRecord): void {
    const id = rec.spec.task_id;
    this.#ended.delete(id);
    this.#ended.set(id, rec);
    if (this.#ended.size > ENDED_KEPT) {
      const oldest = this.#ended.keys().next().value;
      if (oldest !== undefined) this.#ended.delete(oldest);
    }
    this.forget(id);
  }

  /**
   * Attempts that nodes still list but that are not theirs any more, as the record to abort
   * (with the node's attempt number). `live` gives a task's current record while it lives.
   */
  strays(
    heartbeats: Iterable<[string, Heartbeat]>,
    live: (taskId: string) => TaskRecord | undefined,
    now: number,
  ): { nodeId: string; record: TaskRecord }[] {
    const out: { nodeId: string; record: TaskRecord }[] = [];
    for (const [nodeId, hb] of heartbeats) {
      for (const id of hb.running) {
        const current = live(id);
        if (
          current?.assigned_node === nodeId &&
          (current.status === "scheduled" || current.status === "running")
        )
          continue;
        const rec = current ?? this.#ended.get(id);
        const theirs = rec?.attempts.findLast((a) => a.node_id === nodeId);
        // Only a heartbeat sent well after the attempt ended says the node goes on with it.
        if (!rec || !theirs || hb.at < Date.parse(theirs.ended_at ?? rec.completed_at ?? "") + START_SLACK_MS)
          continue;
        const key = `${id}/${nodeId}`;
        if (now - (this.#sent.get(key) ?? 0) < RESEND_MS) continue;
        this.#sent.set(key, now);
        out.push({ nodeId, record: { ...rec, attempt: theirs.attempt } });
      }
    }
    for (const [key, at] of this.#sent) if (now - at > 60_000) this.#sent.delete(key);
    return out;
  }
}
