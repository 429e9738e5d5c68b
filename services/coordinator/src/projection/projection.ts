import { type Cluster, watchBucket } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { BreakerRecord, NodeHealthRecord, NodeRecord } from "@openclaw/protocol";
import type { NodeStore, StreamEvent } from "../db/node-store.js";
import { followEventHistory } from "./event-history.js";
import { WriteCoalescer } from "./write-coalescer.js";

export interface ProjectionOptions {
  cluster: Cluster;
  store: NodeStore;
  log: Logger;
  /** How long KV updates are gathered before one write. @default 100 */
  flushIntervalMs?: number;
  /** Told of every batch of events once it is stored. */
  onEvents?: (events: readonly StreamEvent[]) => void;
}

export interface Projection {
  /** Writes pending KV updates now (tests, shutdown). */
  flush(): void;
  /** Stops the watchers and the event consumer, then writes what is pending. */
  stop(): Promise<void>;
}

/**
 * Feeds the read model: current node state from the `nodes` and `node_health` KV buckets (the
 * truth), history from the EVENTS stream. Events never change a node's row, because they may
 * be replayed late.
 */
export function startProjection(o: ProjectionOptions): Projection {
  const { cluster, store, log } = o;
  const writes = new WriteCoalescer(store, log, o.flushIntervalMs ?? 100);
  const loops = [
    watchBucket({
      kv: cluster.kv.nodes,
      bucket: cluster.names.buckets.nodes,
      schema: NodeRecord,
      keyOf: (r) => r.node.node_id,
      onValue: (r) => writes.putNode(r),
      log,
    }),
    watchBucket({
      kv: cluster.kv.nodeHealth,
      bucket: cluster.names.buckets.nodeHealth,
      schema: NodeHealthRecord,
      keyOf: (h) => h.node_id,
      onValue: (h) => writes.putHealth(h),
      log,
    }),
    // Circuit breakers change rarely: written as they come.
    watchBucket({
      kv: cluster.kv.scheduler,
      bucket: cluster.names.buckets.scheduler,
      key: "breaker.>",
      schema: BreakerRecord,
      keyOf: (b) => `breaker.${b.node_id}`,
      onValue: (b) => {
        try {
          store.putBreaker(b);
        } catch (err) {
          log.error(
            { node_id: b.node_id, error_code: "OC-5001", error: (err as Error).message },
            "storing a circuit breaker failed",
          );
        }
      },
      log,
    }),
    followEventHistory({ cluster, store, log, ...(o.onEvents ? { onStored: o.onEvents } : {}) }),
  ];
  return {
    flush: () => writes.flush(),
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
      writes.stop();
    },
  };
}
