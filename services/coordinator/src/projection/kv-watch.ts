import { decode, type KV } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import type { z } from "zod";
import { pause, type Stoppable } from "./loop.js";

export interface KvWatchOptions<S extends z.ZodType> {
  kv: KV;
  /** For log lines: `nodes` or `node_health`. */
  bucket: string;
  schema: S;
  /** The node id a valid value belongs to; it must equal the key. */
  keyOf: (value: z.output<S>) => string;
  onValue: (value: z.output<S>) => void;
  log: Logger;
  /** Wait before watching again after a failure. @default 1000 */
  retryMs?: number;
}

/**
 * Mirrors a KV bucket: every current value first, then each update. Deletes are ignored (the
 * read model keeps what it has seen); invalid values are logged and skipped, never thrown.
 */
export function watchBucket<S extends z.ZodType>(o: KvWatchOptions<S>): Stoppable {
  const abort = new AbortController();
  const { signal } = abort;
  let iter: { stop(): void } | undefined;
  const done = (async () => {
    while (!signal.aborted) {
      try {
        const watch = await o.kv.watch();
        iter = watch;
        if (signal.aborted) watch.stop();
        for await (const entry of watch) {
          if (entry.operation !== "PUT") continue;
          const decoded = decode(o.schema, entry.value);
          if (!decoded.ok) {
            o.log.warn(
              { bucket: o.bucket, key: entry.key, error_code: "OC-2002", error: decoded.error },
              "invalid KV value skipped",
            );
            continue;
          }
          const id = o.keyOf(decoded.value);
          if (id !== entry.key) {
            o.log.warn(
              {
                bucket: o.bucket,
                key: entry.key,
                node_id: id,
                error_code: "OC-2002",
                error: "key differs from node id",
              },
              "invalid KV value skipped",
            );
            continue;
          }
          o.onValue(decoded.value);
        }
      } catch (err) {
        if (signal.aborted) break;
        o.log.warn({ bucket: o.bucket, error: (err as Error).message }, "KV watch failed; watching again");
      }
      await pause(o.retryMs ?? 1000, signal);
    }
  })();
  return {
    async stop() {
      abort.abort();
      iter?.stop();
      await done;
    },
  };
}
