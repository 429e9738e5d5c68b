import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Names, OcError } from "@openclaw/protocol";
import { isNotFound } from "./errors.js";

export type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
export type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";

export interface ProvisionOptions {
  /** How long events stay in the EVENTS stream (ms). */
  eventsMaxAgeMs: number;
  /** TTL of leader leases (ms): the election timeout. */
  leaseTtlMs: number;
}

export interface Cluster {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  kv: { nodes: KV; nodeHealth: KV; leases: KV; tasks: KV; checkpoints: KV; scheduler: KV };
}

const NS = 1_000_000;

/** Gets the JetStream manager, with a clear error when the server has no JetStream. */
export async function jetStreamManagerOf(nc: NatsConnection): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (err) {
    throw new OcError(
      "OC-2003",
      `JetStream is not available on this NATS server (start it with -js): ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Creates the stream, or brings an existing one to this config. Safe to race: when several
 * processes start at once, the losers of the create see the stream on their next look.
 */
async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  const { name, ...update } = config;
  for (let attempt = 0; ; attempt++) {
    try {
      await jsm.streams.info(name);
      await jsm.streams.update(name, update);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // nats-server answers a lost create race with "already in use" or "subjects overlap".
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
}

async function ensureKv(
  kvm: Kvm,
  jsm: JetStreamManager,
  bucket: string,
  opts: { ttl?: number; history?: number },
): Promise<KV> {
  let kv: KV | undefined;
  for (let attempt = 0; !kv; attempt++) {
    try {
      kv = await kvm.create(bucket, {
        history: opts.history ?? 1,
        ttl: opts.ttl ?? 0,
        storage: StorageType.File,
      });
    } catch (err) {
      // Lost a create race, or the bucket exists with other settings: use it as it is.
      kv = await kvm.open(bucket).catch(() => undefined);
      if (!kv && attempt >= 5) throw err;
      if (!kv) await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
    }
  }
  // An existing bucket keeps the TTL it was made with: bring it to the configured one, so a
  // changed election timeout takes effect (leases read the bucket's TTL before they act on it).
  const ttl = opts.ttl ?? 0;
  if ((await kv.status()).ttl !== ttl) {
    await jsm.streams.update(`KV_${bucket}`, { max_age: ttl * NS });
  }
  return kv;
}

/** A durable pull consumer with explicit acks (optionally filtered to one subject). Safe to race. */
export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  filter?: string,
): Promise<void> {
  const exists = () =>
    jsm.consumers.info(stream, consumer).then(
      () => true,
      (err) => (isNotFound(err) ? false : Promise.reject(err)),
    );
  if (await exists()) return;
  try {
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000 * NS,
      max_ack_pending: 10_000,
      ...(filter ? { filter_subject: filter } : {}),
    });
  } catch (err) {
    if (!(await exists())) throw err;
  }
}

/** The durable consumer the registry replicas share on the NODES stream. Safe to race. */
export function ensureRegistryConsumer(jsm: JetStreamManager, names: Names): Promise<void> {
  return ensureDurable(jsm, names.streams.nodes, names.consumers.registry);
}

/**
 * Makes sure every stream, consumer and bucket of the cluster exists with the right settings.
 * Every service calls it at start; it is idempotent, so start order does not matter.
 */
export async function provisionCluster(
  nc: NatsConnection,
  names: Names,
  options: ProvisionOptions,
): Promise<Cluster> {
  const jsm = await jetStreamManagerOf(nc);
  const js = jetstream(nc);
  await ensureStream(jsm, {
    name: names.streams.nodes,
    subjects: names.subjects.nodeMessagesAll,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: 3_600_000 * NS,
    // Heartbeats are only interesting while fresh; registrations are kept apart by subject.
    max_msgs_per_subject: 100,
    duplicate_window: 120_000 * NS,
  });
  await ensureStream(jsm, {
    name: names.streams.events,
    subjects: [names.subjects.eventsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: options.eventsMaxAgeMs * NS,
    // The server refuses a dedupe window longer than the max age.
    duplicate_window: Math.min(120_000, options.eventsMaxAgeMs) * NS,
  });
  await ensureStream(jsm, {
    name: names.streams.sched,
    subjects: [names.subjects.schedAll],
    // A work queue: a message is gone once the scheduler has acted on it and acked it.
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 120_000 * NS,
  });
  await ensureStream(jsm, {
    name: names.streams.dispatch,
    subjects: [names.subjects.dispatchAll],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    // An order nobody took within an hour is stale: the scheduler has long moved the task on.
    max_age: 3_600_000 * NS,
  });
  await ensureRegistryConsumer(jsm, names);
  await ensureDurable(jsm, names.streams.sched, names.consumers.scheduler);
  const kvm = new Kvm(js);
  const [nodes, nodeHealth, leases, tasks, checkpoints, scheduler] = await Promise.all([
    ensureKv(kvm, jsm, names.buckets.nodes, {}),
    ensureKv(kvm, jsm, names.buckets.nodeHealth, {}),
    ensureKv(kvm, jsm, names.buckets.leases, { ttl: options.leaseTtlMs }),
    ensureKv(kvm, jsm, names.buckets.tasks, {}),
    ensureKv(kvm, jsm, names.buckets.checkpoints, {}),
    ensureKv(kvm, jsm, names.buckets.scheduler, {}),
  ]);
  return { nc, js, jsm, names, kv: { nodes, nodeHealth, leases, tasks, checkpoints, scheduler } };
}

/**
 * Binds to a cluster the services have provisioned, changing nothing (for clients such as the
 * SDK, whose settings must never rewrite the cluster's). Fails clearly if it does not exist yet.
 */
export async function bindCluster(nc: NatsConnection, names: Names): Promise<Cluster> {
  const jsm = await jetStreamManagerOf(nc);
  const js = jetstream(nc);
  const kvm = new Kvm(js);
  const open = (bucket: string) =>
    kvm.open(bucket).catch((err) => {
      throw new OcError(
        "OC-5003",
        `the cluster '${names.prefix}' is not set up on this NATS (bucket ${bucket} is missing): start its services first`,
        { cause: err },
      );
    });
  const [nodes, nodeHealth, leases, tasks, checkpoints, scheduler] = await Promise.all([
    open(names.buckets.nodes),
    open(names.buckets.nodeHealth),
    open(names.buckets.leases),
    open(names.buckets.tasks),
    open(names.buckets.checkpoints),
    open(names.buckets.scheduler),
  ]);
  return { nc, js, jsm, names, kv: { nodes, nodeHealth, leases, tasks, checkpoints, scheduler } };
}
