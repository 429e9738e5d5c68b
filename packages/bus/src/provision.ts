import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@openclaw/log";
import { type Names, OcError } from "@openclaw/protocol";
import { errorMessage, isNotFound } from "./errors.js";
import { patientJetStream } from "./patient-publish.js";

export type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
export type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";

export interface ProvisionOptions {
  /** How long events stay in the EVENTS stream (ms). */
  eventsMaxAgeMs: number;
  /** TTL of leader leases (ms): the election timeout. */
  leaseTtlMs: number;
  /**
   * Copies of every stream and bucket (`cluster.replicas`). New ones are created with it; existing
   * ones are brought to it when the server allows, else keep theirs (with a warning). When not
   * given, new ones get the server's default (1) and existing ones keep theirs.
   */
  replicas?: number;
  /** Where a replica count that cannot be applied is reported. */
  log?: Logger;
}

export interface Cluster {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  kv: { nodes: KV; nodeHealth: KV; leases: KV; tasks: KV; checkpoints: KV; scheduler: KV };
}

const NS = 1_000_000;

/** What the DEAD_LETTERS stream keeps at most: a week, 10,000 messages, 64 MiB (the oldest go first). */
export const DEAD_LETTER_MAX_AGE_MS = 7 * 86_400_000;
export const DEAD_LETTER_MAX_MSGS = 10_000;
export const DEAD_LETTER_MAX_BYTES = 64 * 1024 * 1024;

/**
 * How long provisioning keeps asking while NATS answers with timeouts. Creating a replicated
 * stream, bucket or consumer elects a new raft group: on a busy NATS cluster that takes longer
 * than one request's timeout (5 s), and several services provisioning at once queue up behind
 * each other. The server goes on with the work, so asking again finds it done.
 */
const PROVISION_PATIENCE_MS = 60_000;

/** A request that timed out, or JetStream busy electing (10008): worth asking again. */
function isTransient(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } } | undefined;
  return (
    e?.name === "TimeoutError" ||
    e?.cause?.name === "TimeoutError" ||
    (err instanceof JetStreamApiError && err.code === 10008)
  );
}

/** Runs an idempotent step again while it fails with a transient error, for up to PROVISION_PATIENCE_MS. */
async function patiently<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + PROVISION_PATIENCE_MS;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

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

/** Refuses replicas > 1 on a single nats-server, which cannot keep more than one copy. */
function checkReplicas(nc: NatsConnection, replicas: number | undefined): void {
  if (replicas !== undefined && replicas > 1 && !nc.info?.cluster) {
    throw new OcError(
      "OC-1001",
      `cluster.replicas is ${replicas}, but the NATS server at ${nc.getServer()} is not part of a NATS cluster ` +
        "(a single server keeps one copy): set cluster.replicas to 1, or connect to a NATS cluster " +
        "(see infra/nats-cluster/)",
    );
  }
}

/**
 * Brings an existing stream to a new replica count (NATS moves or adds copies in the background).
 * When the server refuses (not enough servers, ...), the stream keeps its count and we say so.
 */
async function updateReplicas(
  jsm: JetStreamManager,
  name: string,
  from: number,
  to: number,
  log: Logger | undefined,
): Promise<boolean> {
  try {
    await jsm.streams.update(name, { num_replicas: to });
    log?.info({ stream: name, from, to }, "stream replicas changed");
    return true;
  } catch (err) {
    log?.warn(
      { stream: name, replicas: from, configured: to, error: errorMessage(err) },
      `stream ${name} keeps ${from} replica(s): NATS refused to change it to cluster.replicas = ${to}`,
    );
    return false;
  }
}

/**
 * Creates the stream, or brings an existing one to this config. Safe to race: when several
 * processes start at once, the losers of the create see the stream on their next look. An
 * existing stream with another replica count is brought to `num_replicas` if the server can;
 * else it keeps its own (a warning, not a failure).
 */
function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  log?: Logger,
): Promise<void> {
  return patiently(() => ensureStreamOnce(jsm, config, log));
}

async function ensureStreamOnce(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  log?: Logger,
): Promise<void> {
  const { name, ...update } = config;
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(name);
      const want = update.num_replicas;
      if (want !== undefined && info.config.num_replicas !== want) {
        if (!(await updateReplicas(jsm, name, info.config.num_replicas, want, log))) {
          update.num_replicas = info.config.num_replicas;
        }
      }
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

function ensureKv(
  kvm: Kvm,
  jsm: JetStreamManager,
  bucket: string,
  opts: { ttl?: number; history?: number; replicas?: number; log?: Logger },
): Promise<KV> {
  return patiently(() => ensureKvOnce(kvm, jsm, bucket, opts));
}

async function ensureKvOnce(
  kvm: Kvm,
  jsm: JetStreamManager,
  bucket: string,
  opts: { ttl?: number; history?: number; replicas?: number; log?: Logger },
): Promise<KV> {
  // With several copies, a direct get can be answered by a follower that has not applied the
  // latest write yet: a worker would read the task record as it was before its own dispatch and
  // skip it. So replicated buckets are read through their stream leader (no direct gets).
  const replicated = opts.replicas !== undefined && opts.replicas > 1;
  let kv: KV | undefined;
  for (let attempt = 0; !kv; attempt++) {
    try {
      kv = await kvm.create(bucket, {
        history: opts.history ?? 1,
        ttl: opts.ttl ?? 0,
        storage: StorageType.File,
        ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
        ...(replicated ? { allow_direct: false } : {}),
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
  const status = await kv.status();
  if (status.ttl !== ttl) {
    await jsm.streams.update(`KV_${bucket}`, { max_age: ttl * NS });
  }
  // An existing bucket keeps its replica count too (kvm.create only opens it): bring it to the configured one.
  if (opts.replicas !== undefined && status.replicas !== opts.replicas) {
    await updateReplicas(jsm, `KV_${bucket}`, status.replicas, opts.replicas, opts.log);
  }
  // A bucket made before (with one copy) allows direct gets: stop them for other clients too.
  if (replicated && status.streamInfo.config.allow_direct) {
    await jsm.streams
      .update(`KV_${bucket}`, { allow_direct: false })
      .catch((err: unknown) =>
        opts.log?.warn(
          { stream: `KV_${bucket}`, error: errorMessage(err) },
          "could not turn off direct gets: reads may be answered by a lagging copy",
        ),
      );
  }
  return kv;
}

/**
 * How long each pull request of a long-running `consume()` lasts. The server sends idle heartbeats
 * at half of it, and the client pulls again after two missed ones: a consumer that stopped
 * delivering (its NATS node died, its leader moved) is noticed in about this long, not after the
 * library's default of 30 s (measured: 50 s of a frozen cluster in the chaos run, reports waiting
 * in the scheduler's inbox while every slot looked busy). Costs one pull request per interval.
 */
export const CONSUME_EXPIRES_MS = 5000;

/**
 * How many times a durable consumer delivers one message at most. Without a limit, a message its
 * handler fails on every time (a poison message) is delivered again forever. A handler gives up
 * on the last delivery (see `deadLetter`); the server then delivers it no more.
 */
export const MAX_DELIVER = 100;

/**
 * A durable pull consumer with explicit acks (optionally filtered to one subject), delivering a
 * message at most MAX_DELIVER times; an existing one is brought to that limit. Safe to race.
 */
export function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  filter?: string,
): Promise<void> {
  return patiently(() => ensureDurableOnce(jsm, stream, consumer, filter));
}

async function ensureDurableOnce(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  filter?: string,
): Promise<void> {
  const info = () =>
    jsm.consumers.info(stream, consumer).then(
      (i) => i,
      (err) => (isNotFound(err) ? undefined : Promise.reject(err)),
    );
  const found = await info();
  if (found) {
    // Made before there was a limit (max_deliver -1): a poison message there loops forever. Best
    // effort: a server that refuses the change still serves the consumer as it was.
    if (found.config.max_deliver !== MAX_DELIVER)
      await jsm.consumers.update(stream, consumer, { max_deliver: MAX_DELIVER }).catch(() => undefined);
    return;
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000 * NS,
      max_ack_pending: 10_000,
      max_deliver: MAX_DELIVER,
      ...(filter ? { filter_subject: filter } : {}),
    });
  } catch (err) {
    if (!(await info())) throw err;
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
  // Publishes (and KV writes) wait through a stream leader election rather than fail.
  const js = patientJetStream(nc);
  const { replicas, log } = options;
  checkReplicas(nc, replicas);
  const copies = replicas === undefined ? {} : { num_replicas: replicas };
  const kvOpts = { replicas, log };
  await ensureStream(
    jsm,
    {
      name: names.streams.nodes,
      subjects: names.subjects.nodeMessagesAll,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: 3_600_000 * NS,
      // Heartbeats are only interesting while fresh; registrations are kept apart by subject.
      max_msgs_per_subject: 100,
      duplicate_window: 120_000 * NS,
      ...copies,
    },
    log,
  );
  await ensureStream(
    jsm,
    {
      name: names.streams.events,
      subjects: [names.subjects.eventsAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: options.eventsMaxAgeMs * NS,
      // The server refuses a dedupe window longer than the max age.
      duplicate_window: Math.min(120_000, options.eventsMaxAgeMs) * NS,
      ...copies,
    },
    log,
  );
  await ensureStream(
    jsm,
    {
      name: names.streams.sched,
      subjects: [names.subjects.schedAll],
      // A work queue: a message is gone once the scheduler has acted on it and acked it.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 120_000 * NS,
      ...copies,
    },
    log,
  );
  await ensureStream(
    jsm,
    {
      name: names.streams.dispatch,
      subjects: [names.subjects.dispatchAll],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // An order nobody took within an hour is stale: the scheduler has long moved the task on.
      max_age: 3_600_000 * NS,
      ...copies,
    },
    log,
  );
  await ensureStream(
    jsm,
    {
      name: names.streams.deadLetters,
      subjects: [names.subjects.deadLettersAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      // For an operator to look into, not to keep: a week, and bounded in count and size.
      max_age: DEAD_LETTER_MAX_AGE_MS * NS,
      max_msgs: DEAD_LETTER_MAX_MSGS,
      max_bytes: DEAD_LETTER_MAX_BYTES,
      ...copies,
    },
    log,
  );
  await ensureRegistryConsumer(jsm, names);
  await ensureDurable(jsm, names.streams.sched, names.consumers.scheduler);
  const kvm = new Kvm(js);
  const [nodes, nodeHealth, leases, tasks, checkpoints, scheduler] = await Promise.all([
    ensureKv(kvm, jsm, names.buckets.nodes, kvOpts),
    ensureKv(kvm, jsm, names.buckets.nodeHealth, kvOpts),
    ensureKv(kvm, jsm, names.buckets.leases, { ...kvOpts, ttl: options.leaseTtlMs }),
    ensureKv(kvm, jsm, names.buckets.tasks, kvOpts),
    ensureKv(kvm, jsm, names.buckets.checkpoints, kvOpts),
    ensureKv(kvm, jsm, names.buckets.scheduler, kvOpts),
  ]);
  return { nc, js, jsm, names, kv: { nodes, nodeHealth, leases, tasks, checkpoints, scheduler } };
}

/**
 * Binds to a cluster the services have provisioned, changing nothing (for clients such as the
 * SDK, whose settings must never rewrite the cluster's). Fails clearly if it does not exist yet.
 */
export async function bindCluster(nc: NatsConnection, names: Names): Promise<Cluster> {
  const jsm = await jetStreamManagerOf(nc);
  // Publishes (and KV writes) wait through a stream leader election rather than fail.
  const js = patientJetStream(nc);
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
