import type { KV } from "@nats-io/kv";
import type { Logger } from "@openclaw/log";
import type { z } from "zod";
import { decode } from "./codec.js";
import { errorMessage } from "./errors.js";

export interface WatchBucketOptions<S extends z.ZodType> {
  kv: KV;
  /** For log lines, e.g. `oc_nodes`. */
  bucket: string;
  schema: S;
  /** The id a valid value belongs to; it must equal its key, or the value is skipped. */
  keyOf: (value: z.output<S>) => string;
  onValue: (value: z.output<S>) => void;
  log: Logger;
  /** Only the keys matching this (a subject-like filter, e.g. `breaker.>`). @default every key */
  key?: string;
  /** Wait before watching again after a failure. @default 1000 */
  retryMs?: number;
  /**
   * A watch whose replay has not finished by then is started again (a watch can stall when the
   * server is slow to set up its consumer). @default 10000
   */
  replayTimeoutMs?: number;
}

/** Whether the bucket holds no value (under `key`, when given). */
async function empty(kv: KV, key: string | undefined): Promise<boolean> {
  if ((await kv.status()).values === 0) return true;
  if (key === undefined) return false;
  for await (const _ of await kv.keys(key)) return false;
  return true;
}

export interface BucketWatch {
  /** Resolves once every value the bucket held when the watch began has been delivered. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Mirrors a KV bucket: every current value first, then each update, forever (a failed watch is
 * started again, which replays the current values). Deletes are ignored; invalid values are
 * logged and skipped, never thrown.
 */
export function watchBucket<S extends z.ZodType>(o: WatchBucketOptions<S>): BucketWatch {
  const abort = new AbortController();
  const { signal } = abort;
  let isReady = false;
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  const markReady = () => {
    isReady = true;
    resolveReady();
  };
  let iter: { stop(): void } | undefined;

  function deliver(key: string, value: Uint8Array): void {
    const decoded = decode(o.schema, value);
    if (!decoded.ok) {
      o.log.warn(
        { bucket: o.bucket, key, error_code: "OC-2002", error: decoded.error },
        "invalid KV value skipped",
      );
      return;
    }
    const id = o.keyOf(decoded.value);
    if (id !== key) {
      o.log.warn(
        { bucket: o.bucket, key, error_code: "OC-2002", error: `value is for '${id}'` },
        "invalid KV value skipped",
      );
      return;
    }
    o.onValue(decoded.value);
  }

  const done = (async () => {
    while (!signal.aborted) {
      try {
        const watch = await o.kv.watch(o.key === undefined ? {} : { key: o.key });
        iter = watch;
        if (signal.aborted) watch.stop();
        let stalled = false;
        const replay = setTimeout(() => {
          if (isReady) return;
          stalled = true;
          watch.stop();
        }, o.replayTimeoutMs ?? 10_000);
        try {
          // An empty bucket replays nothing; otherwise the entry with nothing pending after it ends the replay.
          if (await empty(o.kv, o.key)) markReady();
          for await (const entry of watch) {
            if (entry.operation === "PUT") deliver(entry.key, entry.value);
            if (entry.delta === 0) markReady();
          }
        } finally {
          clearTimeout(replay);
        }
        if (stalled)
          o.log.warn(
            { bucket: o.bucket, error_code: "OC-2001" },
            "KV watch did not replay in time; watching again",
          );
      } catch (err) {
        if (signal.aborted) break;
        o.log.warn({ bucket: o.bucket, error: errorMessage(err) }, "KV watch failed; watching again");
      }
      await pause(o.retryMs ?? 1000, signal);
    }
  })();
  return {
    ready,
    async stop() {
      abort.abort();
      iter?.stop();
      markReady();
      await done;
    },
  };
}

/** Waits `ms`, or less if `signal` aborts first. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * Every current value of a bucket, read in one stream (a watch stopped after the replay) rather
 * than a get per key. Invalid values are logged and skipped. It ends even while others write:
 * every key not written during the read is returned with its value; a key written meanwhile may
 * be missed (the scheduler reads its bucket while it is the only writer).
 */
export async function readAll<S extends z.ZodType>(
  kv: KV,
  schema: S,
  log: Logger,
): Promise<{ key: string; value: z.output<S>; revision: number }[]> {
  const latest = new Map<string, { key: string; value: z.output<S>; revision: number }>();
  if ((await kv.status()).values === 0) return [];
  const watch = await kv.watch();
  // The watch delivers every key's value as of its start, then each later write, in order. Under
  // concurrent writes `delta` may never reach 0: stop at the bucket's last revision as it stood
  // once the watch had started.
  const last = (await kv.status()).streamInfo.state.last_seq;
  // `delta` is not exact under concurrent writes, and the last message may be gone (expired by
  // the bucket's TTL): when it says 0 short of `last`, wait a moment for more, then stop.
  let idle: NodeJS.Timeout | undefined;
  for await (const entry of watch) {
    clearTimeout(idle);
    if (entry.operation === "PUT") {
      const decoded = decode(schema, entry.value);
      if (decoded.ok)
        latest.set(entry.key, { key: entry.key, value: decoded.value, revision: entry.revision });
      else
        log.warn({ key: entry.key, error_code: "OC-2002", error: decoded.error }, "invalid KV value skipped");
    } else latest.delete(entry.key);
    if (entry.revision >= last) break;
    if (entry.delta === 0) idle = setTimeout(() => watch.stop(), 500);
  }
  clearTimeout(idle);
  watch.stop();
  return [...latest.values()];
}
