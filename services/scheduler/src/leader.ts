import {
  CONSUME_EXPIRES_MS,
  deadLetter,
  decode,
  encode,
  ensureDurable,
  errorMessage,
  isCasConflict,
  type JsMsg,
  MAX_DELIVER,
  readAll,
  type ServiceContext,
} from "@openclaw/bus";
import {
  isOcError,
  isTerminal,
  type TaskCancel,
  TaskRecord,
  type TaskReport,
  type TaskRetry,
  type TaskSubmit,
} from "@openclaw/protocol";
import { type Held, TaskBook } from "./book.js";
import { loadBreakers, storeBreakers } from "./breaker.js";
import { claimBatchKeys, type KeyVerdicts } from "./idempotency.js";
import { type Inbound, type InboxMsg, outcomeOf, parseInbound } from "./inbox.js";
import { schedulerMetrics } from "./metrics.js";
import type { NodeTable } from "./node-table.js";
import { Placer } from "./placer.js";
import { cancelled, newRecord, retried } from "./records.js";
import { applyReport } from "./reports.js";
import { type InboxProgress, Supervision } from "./supervision.js";

/** Consumer statuses worth a warning: the inbox may stop delivering for a while. */
const INBOX_TROUBLE = new Set([
  "heartbeats_missed",
  "consumer_not_found",
  "stream_not_found",
  "consumer_deleted",
  "no_responders",
]);

/** A step of the serial chain longer than this is logged (everything else waited for it). */
const SLOW_STEP_MS = 2000;
/** How often, and how many times, a prompt check looks again at verdicts waiting for queued reports. */
const CHECK_RETRY_MS = 100;
const CHECK_RETRIES = 10;

/** Inbox messages waiting for the next batch, at most; the consumer waits beyond that. */
const MAX_BATCH = 2048;

/**
 * What only the leader does: owns every live task (in memory, mirrored in the `tasks` bucket),
 * consumes the scheduler's inbox, places pending tasks and watches running ones. Every change
 * runs through one serial chain, so handlers never interleave.
 */
export class LeaderState {
  readonly #ctx: ServiceContext;
  readonly #nodes: NodeTable;
  readonly #book: TaskBook;
  readonly #placer: Placer;
  readonly #supervision: Supervision;
  readonly #isLeader: () => boolean;
  #chain: Promise<void> = Promise.resolve();
  #messages: { close(): Promise<unknown> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scheduleQueued = false;
  #tickQueued = false;
  #checkQueued = false;
  #stopped = false;
  /** Records written by an earlier leader that it may not have announced: announced once running. */
  #unannounced: Held[] = [];
  /** The highest inbox (SCHED) sequence handled. */
  #handledSeq = 0;
  /** Inbox messages that arrived since the last batch started. */
  #batch: JsMsg[] = [];
  /** The batch step queued on the chain, if one is. */
  #batchStep: Promise<void> | undefined;
  /** How long the parts of the last tick took, for the slow-step warning. */
  #tickParts: Record<string, number> = {};

  constructor(ctx: ServiceContext, nodes: NodeTable, isLeader: () => boolean) {
    this.#ctx = ctx;
    this.#nodes = nodes;
    this.#isLeader = isLeader;
    this.#book = new TaskBook(
      ctx,
      nodes,
      () => this.#active(),
      () => this.requestSchedule(),
    );
    this.#placer = new Placer(ctx, this.#book, nodes);
    this.#supervision = new Supervision(ctx, this.#book, nodes);
  }

  #active(): boolean {
    return !this.#stopped && this.#isLeader();
  }

  /** Rebuilds the live tasks from the bucket (while taking over; nothing is written yet). */
  async rebuild(): Promise<void> {
    const { cluster, log } = this.#ctx;
    const book = this.#book;
    const all = await readAll(cluster.kv.tasks, TaskRecord, log);
    const mark = await book.events.readMark();
    book.breakers.load(await loadBreakers(cluster.kv.scheduler));
    const now = Date.now();
    const own = all.filter(({ key, value }) => key === value.spec.task_id);
    // Written after the last record the previous leader is known to have announced: announce again
    // (a repeat within JetStream's duplicate window is dropped by its message id).
    this.#unannounced = own
      .filter(({ revision }) => revision > mark)
      .sort((a, b) => a.revision - b.revision)
      .map(({ value, revision }) => ({ record: value, revision }));
    for (const h of this.#unannounced) book.events.saved(h.record.spec.task_id, h.revision);
    // In submission order, aged from submission: a failover keeps the queue's order and aging.
    const live = own
      .filter(({ value }) => !isTerminal(value.status))
      .sort((a, b) => a.value.submitted_at.localeCompare(b.value.submitted_at));
    for (const { value, revision } of live) book.hold({ record: value, revision }, now);
    log.info(
      { live_tasks: book.tasks.size, pending: book.pendingCount, to_announce: this.#unannounced.length },
      "scheduler state rebuilt",
    );
  }

  /** Starts consuming the inbox and placing: once leadership is active. */
  /** Returns whether it started: not for a stopped state, nor once its term is over. */
  run(): boolean {
    // Called once the takeover is over: if the lease went meanwhile, nothing runs for a lost term.
    if (this.#stopped || !this.#isLeader()) return false;
    void this.#serial("announce", () => this.#announceInherited());
    void this.#consume();
    this.#timer = setInterval(() => {
      // One tick at a time: when a tick is slower than the interval, they do not pile up.
      if (this.#tickQueued) return;
      this.#tickQueued = true;
      void this.#serial("tick", async () => {
        this.#tickQueued = false;
        await this.#tick();
      });
    }, this.#ctx.config.scheduler.interval);
    this.requestSchedule();
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#messages?.close();
    await this.#chain;
    // What a new leader would otherwise republish from the mark: sent now, on a clean stop.
    await this.#book.events.settled();
  }

  /**
   * Something changed (a node, a task): place again soon, once. The round goes to the end of the
   * chain, after the inbox messages already queued there: a burst of submissions or reports is
   * handled, then placed in one round.
   */
  requestSchedule(): void {
    if (this.#scheduleQueued || this.#stopped) return;
    this.#scheduleQueued = true;
    void this.#serial("place", async () => {
      this.#scheduleQueued = false;
      await this.#placer.schedule(() => this.#active());
    });
  }

  /**
   * A node went away (left, offline, or its worker restarted): look at the live attempts now
   * rather than at the next tick, so its tasks move at once. A verdict that must first see the
   * reports already queued in the inbox is looked at again shortly, a few times, then left to
   * the ticks.
   */
  requestCheck(retries = CHECK_RETRIES): void {
    if (this.#checkQueued || this.#stopped) return;
    this.#checkQueued = true;
    void this.#serial("check", async () => {
      this.#checkQueued = false;
      if (!this.#active()) return;
      await this.#supervision.check(Date.now(), await this.#inboxProgress());
      if (this.#supervision.waiting > 0 && retries > 0 && !this.#stopped) {
        setTimeout(() => this.requestCheck(retries - 1), CHECK_RETRY_MS).unref();
      }
      await this.#placer.schedule(() => this.#active());
    });
  }

  /** Where this task would go now: a dry run for `TaskRouter.route`. */
  route(spec: TaskRecord["spec"]): { node_id: string | null; reason: string | null } {
    return this.#placer.route(spec);
  }

  /** Counts for tests and stats. */
  get pendingCount(): number {
    return this.#book.pendingCount;
  }

  #serial(step: string, work: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain
      .then(async () => {
        const began = performance.now();
        await work();
        const ms = performance.now() - began;
        // Everything else waited meanwhile: say so, with what took the time.
        if (ms > SLOW_STEP_MS)
          this.#ctx.log.warn(
            { step, duration_ms: Math.round(ms), ...(step === "tick" ? this.#tickParts : {}) },
            "scheduler step was slow; the inbox and placement waited",
          );
      })
      .catch((err) => {
        this.#ctx.log.error({ error: errorMessage(err), error_code: "OC-5000" }, "scheduler step failed");
      });
    return this.#chain;
  }

  /** Announces what the previous leader may not have, in revision order. */
  async #announceInherited(): Promise<void> {
    const inherited = this.#unannounced;
    this.#unannounced = [];
    for (const h of inherited) await this.#book.events.announce(h.record, h.revision);
    if (inherited.length > 0)
      this.#ctx.log.info({ events: inherited.length }, "announced task records an earlier leader wrote");
  }

  /**
   * Periodic: publish events that failed before, look at every live attempt, place, publish the
   * queue figures, the events mark and the breakers that changed.
   */
  async #tick(): Promise<void> {
    if (!this.#isLeader()) {
      // This term is over and nobody said so (the lease went while the takeover still ran, when
      // no loss is announced): stop its work rather than tick on as a leader that cannot write.
      this.#ctx.log.warn("this scheduler's term is over; stopping its work");
      void this.stop();
      return;
    }
    const book = this.#book;
    const parts: Record<string, number> = {};
    this.#tickParts = parts;
    const timed = async (part: string, work: () => Promise<unknown>) => {
      const began = performance.now();
      await work();
      parts[`${part}_ms`] = Math.round(performance.now() - began);
    };
    await timed("flush", () => book.events.flush());
    await timed("check", async () => this.#supervision.check(Date.now(), await this.#inboxProgress()));
    await timed("place", () => this.#placer.schedule(() => this.#active()));
    await timed("stats", () => this.#placer.publishStats());
    await timed("mark", () => book.events.storeMark());
    await timed("breakers", () =>
      storeBreakers(this.#ctx.cluster.kv.scheduler, book.breakers, this.#ctx.log),
    );
  }

  /** How far the inbox is handled, for verdicts that a queued report could overrule. */
  async #inboxProgress(): Promise<InboxProgress> {
    const { jsm, names } = this.#ctx.cluster;
    try {
      const info = await jsm.consumers.info(names.streams.sched, names.consumers.scheduler);
      // Nothing waiting and nothing in hand (the tick runs between messages): all is handled.
      if (info.num_pending === 0 && info.num_ack_pending === 0) {
        const all = Math.max(this.#handledSeq, info.delivered.stream_seq);
        return { handled: all, last: all };
      }
      const stream = await jsm.streams.info(names.streams.sched);
      return { handled: this.#handledSeq, last: stream.state.last_seq };
    } catch {
      // Unknown: act on nothing that a queued report could overrule.
      return { handled: this.#handledSeq, last: Number.POSITIVE_INFINITY };
    }
  }

  async #consume(): Promise<void> {
    const { cluster, log } = this.#ctx;
    const { names } = cluster;
    const stream = names.streams.sched;
    const durable = names.consumers.scheduler;
    // Messages a dead leader had pulled but not acked would come back only after the consumer's
    // ack_wait (30 s), while this leader already judges attempts without their reports (and would
    // run finished tasks again). SCHED is a work queue: a fresh consumer gets them at once.
    try {
      await cluster.jsm.consumers.delete(stream, durable).catch(() => undefined);
      await ensureDurable(cluster.jsm, stream, durable);
    } catch (err) {
      log.warn(
        { error: errorMessage(err) },
        "could not renew the scheduler inbox consumer; using it as it is",
      );
    }
    while (!this.#stopped) {
      try {
        const consumer = await cluster.js.consumers.get(stream, durable);
        const messages = await consumer.consume({ max_messages: 256, expires: CONSUME_EXPIRES_MS });
        this.#messages = messages;
        // What the client says about the inbox consumer when it stops delivering: for the logs.
        void (async () => {
          for await (const s of messages.status())
            if (INBOX_TROUBLE.has(s.type)) log.warn({ status: s.type }, "scheduler inbox consumer trouble");
        })().catch(() => undefined);
        if (this.#stopped) await messages.close();
        // Messages are collected while the chain is busy and handled as one batch: a burst is
        // handled concurrently across tasks, with one placement round after it.
        for await (const m of messages) {
          this.#batch.push(m);
          this.#batchStep ??= this.#serial("inbox", () => this.#handleBatch());
          if (this.#batch.length >= MAX_BATCH) await this.#batchStep;
        }
        await this.#chain;
      } catch (err) {
        if (this.#stopped) return;
        log.warn({ error: errorMessage(err) }, "consuming the scheduler inbox failed; retrying");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * Handles the messages collected so far: those of one task in order, different tasks
   * concurrently (their record writes and events are in flight together, not one after another).
   */
  async #handleBatch(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    this.#batchStep = undefined;
    const inbounds = batch.flatMap((m) => parseInbound(this.#ctx.cluster.names, m));
    // Idempotency keys first, before anything is held or placed: one key, one task.
    const keys = await claimBatchKeys(this.#ctx.cluster.kv, inbounds, (id) => this.#book.tasks.has(id));
    const byTask = new Map<string, Inbound[]>();
    for (const inbound of inbounds) {
      if (this.#settleKeyed(inbound, keys)) continue;
      const key = inbound.ok ? inbound.taskId : "";
      const group = byTask.get(key);
      if (group) group.push(inbound);
      else byTask.set(key, [inbound]);
    }
    // A submission alone in the batch for a task nobody holds yet is placed before its record is
    // written, so a task placed at once is written once, as scheduled, instead of pending and then
    // scheduled. Its message is acknowledged only once its record is stored.
    const fresh: Inbound[] = [];
    const groups: Inbound[][] = [];
    for (const group of byTask.values()) {
      const only = group[0];
      if (group.length === 1 && only?.ok && only.kind === "submit" && !this.#book.tasks.has(only.taskId)) {
        this.#hold(only.value);
        fresh.push(only);
      } else groups.push(group);
    }
    await Promise.all(
      groups.map(async (group) => {
        for (const [i, inbound] of group.entries())
          await this.#handle(inbound, outcomeOf(inbound, group[i + 1]));
      }),
    );
    if (fresh.length === 0) return;
    await this.#placer.schedule(() => this.#active());
    // Those it placed are stored (as scheduled); the others are written now, as pending.
    await Promise.all(fresh.map((inbound) => this.#handle(inbound)));
  }

  /**
   * A submission whose idempotency key belongs to another task is acknowledged with nothing made
   * for it (its submitter learns the key's task from the key's entry); one whose key could not be
   * claimed is delivered again. Says whether `inbound` was settled so.
   */
  #settleKeyed(inbound: Inbound, keys: KeyVerdicts): boolean {
    const owner = keys.duplicates.get(inbound);
    if (owner !== undefined) {
      this.#ctx.log.info(
        { task_id: inbound.ok ? inbound.taskId : undefined, idempotent_task_id: owner },
        "submission's idempotency key belongs to another task; no task made for it",
      );
      inbound.m.ack();
      schedulerMetrics.inbox.inc({ kind: "submit" });
      this.#handledSeq = Math.max(this.#handledSeq, inbound.m.seq);
      return true;
    }
    if (!keys.failed.has(inbound)) return false;
    void this.#failed(
      inbound.m,
      keys.failed.get(inbound),
      "claiming a submission's idempotency key failed",
    ).catch(() => undefined);
    return true;
  }

  /** Holds a new task, not yet written, in the queue. */
  #hold(submit: TaskSubmit): Held {
    const held: Held = { record: newRecord(submit.task, submit.submitted_at), revision: 0 };
    this.#book.tasks.set(submit.task.task_id, held);
    this.#book.queue.add(submit.task, Date.now());
    return held;
  }

  /** @param outcomeFollows a `started` report whose attempt's outcome is next in the batch */
  async #handle(inbound: Inbound, outcomeFollows = false): Promise<void> {
    const { m } = inbound;
    if (!inbound.ok) {
      await this.#giveUp(m, "invalid", inbound.error);
      schedulerMetrics.inbox.inc({ kind: "invalid" });
      this.#handledSeq = Math.max(this.#handledSeq, m.seq);
      return;
    }
    try {
      if (inbound.kind === "submit") await this.#onSubmit(inbound.value);
      else if (inbound.kind === "cancel") await this.#onCancel(inbound.value);
      else if (inbound.kind === "retry") await this.#onRetry(inbound.value);
      else await this.#onReport(inbound.value, outcomeFollows);
      m.ack();
      schedulerMetrics.inbox.inc({ kind: inbound.kind });
      this.#handledSeq = Math.max(this.#handledSeq, m.seq);
    } catch (err) {
      await this.#failed(m, err, "scheduler message failed");
    }
  }

  /**
   * A message whose handling failed: delivered again later, unless it is bad input (a value that
   * cannot be encoded fails the same way on every delivery) or this was its last delivery
   * (MAX_DELIVER), when it is given up.
   */
  async #failed(m: InboxMsg, err: unknown, what: string): Promise<void> {
    const bad = isOcError(err) && err.code === "OC-2002";
    if (bad || m.deliveries >= MAX_DELIVER) {
      await this.#giveUp(m, bad ? "unencodable" : "failing", errorMessage(err));
      this.#handledSeq = Math.max(this.#handledSeq, m.seq);
      return;
    }
    this.#ctx.log.error(
      { subject: m.subject, error: errorMessage(err), error_code: "OC-5000", deliveries: m.deliveries },
      `${what}; will retry`,
    );
    // 1 s, doubling to 30 s: MAX_DELIVER deliveries ride out a long outage before it is given up.
    m.nak(Math.min(1000 * 2 ** Math.min(m.deliveries - 1, 5), 30_000));
  }

  /**
   * Gives a message up for good: logged, counted, copied to the dead letters (for an operator:
   * `GET /api/v1/cluster/dead-letters`) and terminated, so it is never delivered again.
   */
  async #giveUp(m: InboxMsg, why: "invalid" | "unencodable" | "failing", error: string): Promise<void> {
    const { log, cluster } = this.#ctx;
    const reason =
      m.entry === undefined || why === "invalid" ? error : `submission ${m.entry} of the batch: ${error}`;
    log.warn(
      {
        subject: m.subject,
        error_code: why === "failing" ? "OC-5000" : "OC-2002",
        error: reason,
        deliveries: m.deliveries,
      },
      why === "failing"
        ? "scheduler message failed on every delivery; given up and kept as a dead letter"
        : "invalid scheduler message dropped; kept as a dead letter",
    );
    schedulerMetrics.deadLetters.inc({ why });
    const kept = await deadLetter(cluster, {
      source: "scheduler",
      subject: m.subject,
      reason: `${why}: ${reason}`,
      data: m.data,
      deliveries: m.deliveries,
    });
    if (!kept) log.warn({ subject: m.subject }, "could not keep a dead-letter copy of a scheduler message");
    m.term();
  }

  /**
   * Writes a new task's record as pending, unless it is written already: a repeat of a live task,
   * or one its batch's placement round placed (and wrote as scheduled).
   */
  async #onSubmit(submit: TaskSubmit): Promise<void> {
    const book = this.#book;
    const spec = submit.task;
    const held = book.tasks.get(spec.task_id) ?? this.#hold(submit);
    if (held.revision !== 0) return;
    try {
      if (!this.#active()) throw new Error("not the scheduler leader any more");
      held.revision = await this.#ctx.cluster.kv.tasks.create(spec.task_id, encode(held.record));
      book.events.saved(spec.task_id, held.revision);
    } catch (err) {
      // Nothing is stored for it: out of the books again.
      book.tasks.delete(spec.task_id);
      book.queue.remove(spec.task_id);
      if (!isCasConflict(err)) throw err;
      // The same id was submitted before: one task, not two. But if its record is live and not
      // held (an earlier create landed and its reply was lost), take it over now.
      await this.#adopt(spec.task_id, spec.payload);
      return;
    }
    // Not awaited: placement need not wait for the event (the publisher keeps a task's events in order).
    void book.event("submitted", held, { payload: spec.payload });
    // A reason its batch's placement round found for its class, written with the record.
    if (held.record.waiting_reason)
      void book.events.publish("waiting", held.record, held.revision, {}, "-waiting");
    this.requestSchedule();
  }

  /** A live record this leader does not hold yet: hold it, queue or count it, and announce it. */
  async #adopt(taskId: string, payload: unknown): Promise<void> {
    const entry = await this.#ctx.cluster.kv.tasks.get(taskId);
    if (entry?.operation !== "PUT" || this.#book.tasks.has(taskId)) return;
    const d = decode(TaskRecord, entry.value);
    if (!d.ok || isTerminal(d.value.status)) return;
    const held: Held = { record: d.value, revision: entry.revision };
    this.#book.hold(held, Date.now());
    this.#ctx.log.warn({ task_id: taskId }, "took over a task record the scheduler did not hold");
    await this.#book.event("submitted", held, { payload });
    this.requestSchedule();
  }

  async #onCancel(cancel: TaskCancel): Promise<void> {
    const book = this.#book;
    const held = book.tasks.get(cancel.task_id);
    if (!held) return; // unknown or already finished
    const before = held.record;
    book.queue.remove(before.spec.task_id);
    book.delayed.remove(before.spec.task_id);
    const rec = cancelled(before, cancel.reason, Date.now());
    await book.save(held, rec);
    book.finish(before.spec.task_id, before);
    // Sent again while the node's heartbeats still list the attempt (see Supervision).
    if (rec.cancel_requested && before.assigned_node)
      book.abort(before.assigned_node, before, cancel.reason || "cancelled");
    await book.event("cancelled", held);
    this.requestSchedule();
  }

  async #onRetry(retry: TaskRetry): Promise<void> {
    const book = this.#book;
    const id = retry.task_id;
    if (book.tasks.has(id)) return; // still live: nothing to retry
    const entry = await this.#ctx.cluster.kv.tasks.get(id);
    if (entry?.operation !== "PUT") return;
    const current = decode(TaskRecord, entry.value);
    if (!current.ok || !["failed", "timeout", "cancelled"].includes(current.value.status)) return;
    const held: Held = { record: current.value, revision: entry.revision };
    // Before the task is queued again, so no attempt of it can read the old checkpoint.
    if (retry.fresh) await this.#ctx.cluster.kv.checkpoints.delete(id);
    await book.save(held, retried(current.value));
    book.tasks.set(id, held);
    book.queue.add(held.record.spec, Date.now());
    await book.event("retrying", held);
    this.requestSchedule();
  }

  #onReport(report: TaskReport, outcomeFollows = false): Promise<void> {
    return applyReport(
      {
        book: this.#book,
        nodes: this.#nodes,
        log: this.#ctx.log,
        requestSchedule: () => this.requestSchedule(),
      },
      report,
      outcomeFollows,
    );
  }
}
