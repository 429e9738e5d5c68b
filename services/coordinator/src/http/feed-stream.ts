import type { FastifyReply } from "fastify";
import type { Activity, FeedItem } from "../activity.js";
import { openEventStream, sseFrame } from "./task-present.js";

/** How often a batch goes out, and the most events in one: a browser keeps up at any load. */
const BATCH_MS = 500;
const BATCH_MAX = 50;
const PING_MS = 15_000;
/** Bytes written but not yet taken by a slow client, past which batches are dropped (and counted). */
const MAX_BUFFERED = 1 << 20;

/**
 * `GET /api/v1/cluster/feed`: every task event the coordinator stores, as server-sent events in
 * batches (`event: tasks`, `{ events, dropped }`) at most every half second; under load a batch
 * keeps the newest 50 and counts the rest as dropped. Ends when the client goes or the API closes.
 */
export function streamFeed(reply: FastifyReply, activity: Activity, closing: AbortSignal): Promise<void> {
  const raw = reply.raw;
  let pending: FeedItem[] = [];
  let dropped = 0;
  return new Promise((resolve) => {
    let done = false;
    const write = (text: string) => {
      if (!done && !raw.destroyed && !raw.writableEnded) raw.write(text);
    };
    const unsubscribe = activity.onEvents((items) => {
      pending.push(...items);
      if (pending.length > BATCH_MAX) {
        dropped += pending.length - BATCH_MAX;
        pending = pending.slice(-BATCH_MAX);
      }
    });
    const flush = setInterval(() => {
      if (pending.length === 0) return;
      // A client that does not read: let its batches go rather than buffer them without end.
      if (raw.writableLength > MAX_BUFFERED) {
        dropped += pending.length;
        pending = [];
        return;
      }
      write(sseFrame("tasks", undefined, JSON.stringify({ events: pending, dropped })));
      pending = [];
      dropped = 0;
    }, BATCH_MS);
    const ping = setInterval(() => write(": ping\n\n"), PING_MS);
    const end = () => {
      if (done) return;
      done = true;
      clearInterval(flush);
      clearInterval(ping);
      unsubscribe();
      closing.removeEventListener("abort", end);
      if (!raw.writableEnded && !raw.destroyed) raw.end();
      resolve();
    };
    raw.once("close", end);
    raw.on("error", end);
    closing.addEventListener("abort", end);
    openEventStream(reply, write);
    if (closing.aborted) end();
  });
}
