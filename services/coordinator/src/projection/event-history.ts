import { type Cluster, decode, type JsMsg, pause } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { NodeEvent } from "@openclaw/protocol";
import type { NodeStore } from "../db/node-store.js";
import type { Stoppable } from "./loop.js";

type OrderedOptions = Exclude<Parameters<Cluster["js"]["consumers"]["get"]>[1], string | undefined>;

export interface EventHistoryOptions {
  cluster: Cluster;
  store: NodeStore;
  log: Logger;
  /** Wait before consuming again after a failure. @default 1000 */
  retryMs?: number;
}

/**
 * Copies node events from the EVENTS stream into `node_events`, each in the transaction that
 * advances the stored cursor, so a restart resumes exactly after the last stored event: no
 * history is lost or stored twice. An ordered consumer needs no durable state on the server.
 */
export function followEventHistory(o: EventHistoryOptions): Stoppable {
  const { cluster, store, log } = o;
  const stream = cluster.names.streams.events;
  const abort = new AbortController();
  const { signal } = abort;
  let messages: { close(): Promise<unknown> } | undefined;

  async function startCursor(): Promise<number> {
    const info = await cluster.jsm.streams.info(stream);
    const cursor = store.eventCursor();
    const created = store.eventStreamCreated();
    const recreated = (created !== undefined && created !== info.created) || info.state.last_seq < cursor;
    if (recreated && cursor > 0) {
      log.warn(
        { stream, cursor, last_seq: info.state.last_seq },
        "EVENTS stream was recreated; rebuilding node event history from its start",
      );
      store.resetEventHistory();
    }
    store.setEventStreamCreated(info.created);
    return recreated ? 0 : cursor;
  }

  function handle(msg: JsMsg): void {
    const decoded = decode(NodeEvent, msg.data);
    let event: NodeEvent | undefined;
    if (!decoded.ok) {
      log.warn(
        { subject: msg.subject, seq: msg.seq, error_code: "OC-2002", error: decoded.error },
        "invalid node event skipped",
      );
    } else {
      const parsed = cluster.names.parseEventSubject(msg.subject);
      if (parsed?.id !== decoded.value.node_id || parsed.kind !== decoded.value.kind) {
        log.warn(
          {
            subject: msg.subject,
            seq: msg.seq,
            error_code: "OC-2002",
            error: "subject does not match node_id and kind",
          },
          "invalid node event skipped",
        );
      } else {
        event = decoded.value;
      }
    }
    store.recordEvent(msg.seq, event);
  }

  const done = (async () => {
    while (!signal.aborted) {
      try {
        const cursor = await startCursor();
        const options: Partial<OrderedOptions> = {
          // One subject as a string: servers before 2.10 reject the filter_subjects array.
          filter_subjects: cluster.names.subjects.nodeEventsAll,
          ...(cursor === 0
            ? { deliver_policy: "all" }
            : { deliver_policy: "by_start_sequence", opt_start_seq: cursor + 1 }),
        };
        const consumer = await cluster.js.consumers.get(stream, options);
        const iter = await consumer.consume();
        messages = iter;
        try {
          if (signal.aborted) await iter.close();
          for await (const msg of iter) handle(msg);
        } finally {
          await iter.close().catch(() => undefined);
        }
      } catch (err) {
        if (signal.aborted) break;
        log.warn(
          { stream, error: (err as Error).message },
          "reading node events failed; resuming from the stored cursor",
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
