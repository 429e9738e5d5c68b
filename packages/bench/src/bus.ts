import { connect } from "@nats-io/transport-node";
import { bindCluster, type Cluster, decode } from "@openclaw/bus";
import { QueueStats, TaskRecord } from "@openclaw/protocol";
import type { Cleanup } from "./cleanup.js";
import type { OurCluster } from "./infra.js";

/**
 * A connection of the bench's own to a running cluster's streams and buckets, bound (changing
 * nothing), to read what the services wrote: task records, node and health records, leases.
 */
export async function bindBus(
  cleanup: Cleanup,
  cluster: OurCluster,
  name = "bench-reader",
): Promise<Cluster> {
  const nc = await connect({ servers: cluster.nats.url, noAsyncTraces: true, name });
  cleanup.defer(`${name} connection`, () => nc.close());
  return bindCluster(nc, cluster.names);
}

/** The tasks' records, by a get per id (exact even while the scheduler writes), in parallel batches. */
export async function readTaskRecords(bus: Cluster, ids: readonly string[]): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const batch = await Promise.all(
      ids.slice(i, i + 100).map((id) => bus.kv.tasks.get(id).catch(() => null)),
    );
    for (const e of batch) {
      const d = e?.operation === "PUT" ? decode(TaskRecord, e.value) : undefined;
      if (d?.ok) out.push(d.value);
    }
  }
  return out;
}

/**
 * Keys in a bucket now: the subjects of its stream, one per key (`kv.keys()` lists them through a
 * consumer that may not finish while the bucket takes a write per heartbeat of 1,000 nodes).
 */
export async function countKeys(bus: Cluster, bucket: string): Promise<number> {
  return (await bus.jsm.streams.info(`KV_${bucket}`)).state.num_subjects ?? 0;
}

/** Pending tasks by the scheduler leader's last count (the `queue` key of its bucket), 0 before any. */
export async function pendingTasks(bus: Cluster): Promise<number> {
  const e = await bus.kv.scheduler.get("queue").catch(() => null);
  const d = e?.operation === "PUT" ? decode(QueueStats, e.value) : undefined;
  return d?.ok ? d.value.pending : 0;
}
