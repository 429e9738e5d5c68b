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
  /** Wait before watching again after a failure. @default 1000 */
  retryMs?: number;
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
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
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
        const watch = await o.kv.watch();
        iter = watch;
        if (signal.aborted) watch.stop();
        // An empty bucket replays nothing; otherwise the entry with nothing pending after it ends the replay.
        if ((await o.kv.status()).values === 0) markReady();
        for await (const entry of watch) {
          if (entry.operation === "PUT") deliver(entry.key, entry.value);
          if (entry.delta === 0) markReady();
        }
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
 * than a get per key. Invalid values are logged and skipped.
 */
export async function readAll<S extends z.ZodType>(
  kv: KV,
  schema: S,
  log: Logger,
): Promise<{ key: string; value: z.output<S>; revision: number }[]> {
  const out: { key: string; value: z.output<S>; revision: number }[] = [];
  if ((await kv.status()).values === 0) return out;
  const watch = await kv.watch();
  for await (const entry of watch) {
    if (entry.operation === "PUT") {
      const decoded = decode(schema, entry.value);
      if (decoded.ok) out.push({ key: entry.key, value: decoded.value, revision: entry.revision });
      else
        log.warn({ key: entry.key, error_code: "OC-2002", error: decoded.error }, "invalid KV value skipped");
    }
    if (entry.delta === 0) break;
  }
  watch.stop();
  return out;
}
