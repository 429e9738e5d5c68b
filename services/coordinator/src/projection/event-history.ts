import { type Cluster, CONSUME_EXPIRES_MS, decode, type JsMsg, pause } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { LeaderElected, NodeEvent, TaskEvent } from "@openclaw/protocol";
import { eventStreamIdentity } from "../cluster-identity.js";
import type { NodeStore, StreamEvent } from "../db/node-store.js";
import type { Stoppable } from "./loop.js";

type OrderedOptions = Exclude<Parameters<Cluster["js"]["consumers"]["get"]>[1], string | undefined>;

/** Most events written in one transaction (a burst of 5,000 tasks is ~25,000 events). */
const MAX_BATCH = 500;

export interface EventHistoryOptions {
  cluster: Cluster;
  store: NodeStore;
  log: Logger;
  /** Wait before consuming again after a failure. @default 1000 */
  retryMs?: number;
  /** Told of every batch once it is stored (the metrics count events). */
  onStored?: (events: readonly StreamEvent[]) => void;
}

/**
 * Copies the EVENTS stream into the read model: node events into `node_events`, task events
 * into `task_events` and onto their task's row. Each batch is written in the transaction that
 * advances the stored cursor, so a restart resumes exactly after the last stored event: no
 * history is lost or applied twice. An ordered consumer needs no durable state on the server.
 */
export function followEventHistory(o: EventHistoryOptions): Stoppable {
  const { cluster, store, log } = o;
  const { names } = cluster;
  const stream = names.streams.events;
  const abort = new AbortController();
  const { signal } = abort;
  let messages: { close(): Promise<unknown> } | undefined;

  async function startCursor(): Promise<number> {
    const info = await cluster.jsm.streams.info(stream);
    const cursor = store.eventCursor();
    const created = store.eventStreamCreated();
    const identity = eventStreamIdentity(stream, info.created);
    const recreated =
      (created !== undefined && created !== identity && created !== info.created) ||
      info.state.last_seq < cursor;
    if (recreated && cursor > 0) {
      log.warn(
        { stream, cursor, last_seq: info.state.last_seq },
        "EVENTS stream was recreated; rebuilding event history from its start",
      );
      store.resetEventHistory();
    }
    store.setEventStreamCreated(identity);
    return recreated ? 0 : cursor;
  }

  function invalid(msg: JsMsg, what: string, error: string): StreamEvent {
    log.warn({ subject: msg.subject, seq: msg.seq, error_code: "OC-2002", error }, `invalid ${what} skipped`);
    return { seq: msg.seq, scope: "skip" };
  }

  function classify(msg: JsMsg): StreamEvent {
    const parsed = names.parseEventSubject(msg.subject);
    switch (parsed?.scope) {
      case "node": {
        const decoded = decode(NodeEvent, msg.data);
        if (!decoded.ok) return invalid(msg, "node event", decoded.error);
        if (parsed.id !== decoded.value.node_id || parsed.kind !== decoded.value.kind) {
          return invalid(msg, "node event", "subject does not match node_id and kind");
        }
        return { seq: msg.seq, scope: "node", event: decoded.value };
      }
      case "task": {
        const decoded = decode(TaskEvent, msg.data);
        if (!decoded.ok) return invalid(msg, "task event", decoded.error);
        const e = decoded.value;
        const taskOf = "task" in e ? e.task.spec.task_id : e.task_id;
        if (parsed.id !== e.task_id || parsed.kind !== e.kind || taskOf !== e.task_id) {
          return invalid(msg, "task event", "subject, task_id and task.spec.task_id do not agree");
        }
        return { seq: msg.seq, scope: "task", event: e };
      }
      case "cluster": {
        // Not kept, but the cursor moves past them; leader elections are counted by the metrics.
        if (parsed.kind !== "leader_elected") return { seq: msg.seq, scope: "skip" };
        const decoded = decode(LeaderElected, msg.data);
        if (!decoded.ok) return invalid(msg, "cluster event", decoded.error);
        return { seq: msg.seq, scope: "cluster", event: decoded.value };
      }
      default:
        return invalid(msg, "event", "not a node, task or cluster event subject");
    }
  }

  /**
   * Reads from `cursor + 1` until the iterator ends. Messages that are already buffered are
   * written together: a batch is flushed when it is full or once the buffered ones are read.
   */
  async function consume(cursor: number): Promise<void> {
    const options: Partial<OrderedOptions> = {
      // One subject as a string: servers before 2.10 reject the filter_subjects array.
      filter_subjects: names.subjects.eventsAll,
      ...(cursor === 0
        ? { deliver_policy: "all" }
        : { deliver_policy: "by_start_sequence", opt_start_seq: cursor + 1 }),
    };
    const consumer = await cluster.js.consumers.get(stream, options);
    if (signal.aborted) return;
    const iter = await consumer.consume({ expires: CONSUME_EXPIRES_MS });
    if (signal.aborted) {
      // Stopped while the consumer was being made: awaiting close() on an ordered consumer that
      // never pulled can hang for good (a coordinator stopped right after its start never stopped).
      void iter.close().catch(() => undefined);
      return;
    }
    messages = iter;
    // When nats.js recreates an ordered consumer by itself (its server lost it: a NATS restart, a
    // stream leader gone), the new one can sit silent until heartbeats are missed (~45 s): start
    // afresh from the stored cursor instead.
    void (async () => {
      for await (const s of iter.status()) {
        if (s.type === "ordered_consumer_recreated") {
          log.info(
            { stream },
            "EVENTS consumer recreated by the client; reading again from the stored cursor",
          );
          await iter.close().catch(() => undefined);
          break;
        }
      }
    })().catch(() => undefined);
    let batch: StreamEvent[] = [];
    let scheduled: NodeJS.Immediate | undefined;
    let failure: unknown;
    const flush = () => {
      if (scheduled) clearImmediate(scheduled);
      scheduled = undefined;
      if (batch.length === 0 || failure !== undefined) return;
      const writing = batch;
      batch = [];
      try {
        store.recordEvents(writing);
      } catch (err) {
        // Nothing of the batch is stored: stop, and resume from the stored cursor.
        failure = err;
        void iter.close().catch(() => undefined);
        return;
      }
      // The batch is stored: whatever its observers do cannot make it be read again.
      try {
        o.onStored?.(writing);
      } catch (err) {
        log.warn({ error: (err as Error).message }, "an observer of stored events failed");
      }
    };
    try {
      for await (const msg of iter) {
        if (failure !== undefined) break;
        batch.push(classify(msg));
        if (batch.length >= MAX_BATCH) flush();
        else scheduled ??= setImmediate(flush);
      }
      flush();
    } finally {
      if (scheduled) clearImmediate(scheduled);
      await iter.close().catch(() => undefined);
    }
    if (failure !== undefined) throw failure;
  }

  // After a reconnect the consumer may be gone from the server (a NATS restart): read again from
  // the stored cursor at once rather than wait for the client to notice.
  void (async () => {
    for await (const s of cluster.nc.status()) {
      if (signal.aborted) break;
      if (s.type === "reconnect") await messages?.close().catch(() => undefined);
    }
  })().catch(() => undefined);

  const done = (async () => {
    while (!signal.aborted) {
      try {
        await consume(await startCursor());
      } catch (err) {
        if (signal.aborted) break;
        log.warn(
          { stream, error: (err as Error).message },
          "reading the EVENTS stream failed; resuming from the stored cursor",
        );
      }
      await pause(o.retryMs ?? 1000, signal);
    }
  })();

  return {
    async stop() {
      abort.abort();
      await messages?.close().catch(() => undefined);
      await done;
    },
  };
}
