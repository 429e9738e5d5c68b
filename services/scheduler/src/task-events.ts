import { decode, encode, errorMessage, type ServiceContext } from "@openclaw/bus";
import { envelope, type TaskEvent, type TaskEventKind, type TaskRecord } from "@openclaw/protocol";
import { z } from "zod";
import { snapshot } from "./records.js";

export type SchedulerEventKind = Exclude<TaskEventKind, "progress" | "checkpointed">;

interface OutboxItem {
  subject: string;
  data: Uint8Array;
  msgID: string;
  taskId: string;
  revision: number;
}

/** Key in the `scheduler` bucket: every task event up to this `tasks` bucket revision is published. */
export const PUBLISHED_KEY = "events_published";
const Published = z.strictObject({ revision: z.number().int().min(0) });

/** The event that announces a record in the state it is in (what a lost publish would have said). */
export function eventKindOf(rec: TaskRecord): SchedulerEventKind {
  switch (rec.status) {
    case "pending":
      return rec.waiting_reason ? "waiting" : rec.attempt > 0 || rec.retry_base ? "retrying" : "submitted";
    case "scheduled":
      return "scheduled";
    case "running":
      return "started";
    case "completed":
      return "completed";
    default:
      return rec.status;
  }
}

/**
 * Publishes the scheduler's task events, each with a message id made of its task and the `tasks`
 * bucket revision of the record it announces: publishing it twice is a no-op for JetStream.
 * A task's events go out one after another, in the order they were made, without holding up the
 * caller: the leader's next step need not wait for an event's acknowledgement (one round trip
 * less between a submission and its dispatch). Events that fail to publish wait in an outbox, in
 * order. It keeps a mark in the `scheduler`
 * bucket (every record written up to revision N has been announced), so a new leader republishes
 * exactly what a dead one wrote but may not have announced.
 */
export class TaskEventPublisher {
  readonly #ctx: ServiceContext;
  #outbox: OutboxItem[] = [];
  /** Per task, the revision of its newest record not yet announced. */
  readonly #unannounced = new Map<string, number>();
  #lastSaved = 0;
  #storedMark = -1;
  /** Per task, its newest event still being published: the next one goes out after it. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx;
  }

  /** A record was written at `revision`; its event is to follow. */
  saved(taskId: string, revision: number): void {
    this.#unannounced.set(taskId, revision);
    this.#lastSaved = Math.max(this.#lastSaved, revision);
  }

  #announced(taskId: string, revision: number): void {
    if (this.#unannounced.get(taskId) === revision) this.#unannounced.delete(taskId);
  }

  /**
   * @param idSuffix for an event about a state that was never written on its own (a start whose
   *   outcome came in the same batch): the event's id is its record's plus this, so it stays
   *   distinct from the event of the record at `revision`.
   */
  publish(
    kind: SchedulerEventKind,
    rec: TaskRecord,
    revision: number,
    extra: Record<string, unknown> = {},
    idSuffix = "",
  ): Promise<void> {
    const { cluster } = this.#ctx;
    // Made now, from the record as it is now: the caller may change it before the event goes out.
    const event = {
      ...envelope(this.#ctx.sender),
      task_id: rec.spec.task_id,
      kind,
      task: snapshot(rec),
      ...extra,
    } as TaskEvent;
    const item: OutboxItem = {
      subject: cluster.names.subjects.taskEvent(rec.spec.task_id, kind),
      data: encode(event),
      msgID: `${rec.spec.task_id}-${revision}${idSuffix}`,
      taskId: rec.spec.task_id,
      revision,
    };
    const before = this.#tails.get(item.taskId);
    const sent = before ? before.then(() => this.#send(item, kind)) : this.#send(item, kind);
    this.#tails.set(item.taskId, sent);
    void sent.then(() => {
      if (this.#tails.get(item.taskId) === sent) this.#tails.delete(item.taskId);
    });
    return sent;
  }

  /** Never rejects: an event that cannot be published now waits in the outbox. */
  async #send(item: OutboxItem, kind: SchedulerEventKind): Promise<void> {
    // In order: while older events wait in the outbox, newer ones queue behind them.
    if (this.#outbox.length > 0) {
      this.#outbox.push(item);
      return;
    }
    try {
      await this.#ctx.cluster.js.publish(item.subject, item.data, { msgID: item.msgID });
      this.#announced(item.taskId, item.revision);
    } catch (err) {
      this.#ctx.log.warn(
        { task_id: item.taskId, kind, error: errorMessage(err) },
        "task event not published; will retry",
      );
      this.#outbox.push(item);
    }
  }

  /** Once every event made so far has been published or put in the outbox. */
  async settled(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }

  /** The event for a record as it is, with the payload or result it would have carried. */
  announce(rec: TaskRecord, revision: number): Promise<void> {
    const kind = eventKindOf(rec);
    const extra =
      kind === "submitted"
        ? { payload: rec.spec.payload }
        : kind === "completed"
          ? { result: rec.result }
          : {};
    return this.publish(kind, rec, revision, extra);
  }

  /** Publishes what failed before, in order; stops at the first that still fails. */
  async flush(): Promise<void> {
    const { js } = this.#ctx.cluster;
    while (this.#outbox.length > 0) {
      const item = this.#outbox[0] as OutboxItem;
      try {
        await js.publish(item.subject, item.data, { msgID: item.msgID });
      } catch {
        return;
      }
      this.#announced(item.taskId, item.revision);
      this.#outbox.shift();
    }
  }

  /** The stored mark: every record written up to this revision was announced. */
  async readMark(): Promise<number> {
    const entry = await this.#ctx.cluster.kv.scheduler.get(PUBLISHED_KEY);
    const d = entry?.operation === "PUT" ? decode(Published, entry.value) : undefined;
    const mark = d?.ok ? d.value.revision : 0;
    this.#lastSaved = Math.max(this.#lastSaved, mark);
    this.#storedMark = mark;
    return mark;
  }

  /** Stores the mark when it moved: just below the oldest record still unannounced. */
  async storeMark(): Promise<void> {
    let mark = this.#lastSaved;
    for (const revision of this.#unannounced.values()) mark = Math.min(mark, revision - 1);
    if (mark <= this.#storedMark) return;
    await this.#ctx.cluster.kv.scheduler.put(PUBLISHED_KEY, encode({ revision: mark }));
    this.#storedMark = mark;
  }
}
