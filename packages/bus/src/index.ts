/**
 * The NATS side of every service: connection with reconnect-forever, idempotent provisioning
 * of the cluster's streams, consumer and KV buckets, JSON codec with zod validation, and the
 * leader lease with its elect request/reply (`serveElection`, `requestElection`, `readLeaders`).
 *
 * ```ts
 * const nc = await connectBus({ url, name: "registry-1", connectTimeoutMs: 10_000, log });
 * const cluster = await provisionCluster(nc, names("oc"), { eventsMaxAgeMs, leaseTtlMs });
 * const hb = decode(NodeHeartbeat, msg.data); // never throws
 * ```
 */
export { type Decoded, decode, encode } from "./codec.js";
export {
  type BusConnectOptions,
  connectBus,
  type NatsConnection,
  payloadLimit,
  redactUrl,
} from "./connection.js";
export {
  DEAD_LETTER_HEADERS,
  type DeadLetter,
  deadLetter,
  readDeadLetters,
  type StoredDeadLetter,
} from "./dead-letter.js";
export { type DrainRequest, publishDrain } from "./drain.js";
export {
  type ElectionResponder,
  type ElectOutcome,
  type LeaderInfo,
  type Leaders,
  readLeaders,
  requestElection,
  serveElection,
} from "./election.js";
export { errorMessage, isCasConflict, isNotFound } from "./errors.js";
export { publishLeaderElected, publishNodeEvent } from "./events.js";
export {
  awaitIdempotentTask,
  encodeIdempotencyEntry,
  type IdempotencyEntry,
  idempotencyEntryKey,
  idempotencyEntryTask,
  recordOwnsKey,
} from "./idempotency.js";
export { LeaderLease, type LeaderLeaseOptions } from "./lease.js";
export { type PingAnswer, pingNode, serveNodePing } from "./ping.js";
export {
  bindCluster,
  type Cluster,
  CONSUME_EXPIRES_MS,
  DEAD_LETTER_MAX_AGE_MS,
  DEAD_LETTER_MAX_BYTES,
  DEAD_LETTER_MAX_MSGS,
  ensureDurable,
  ensureRegistryConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetStreamManagerOf,
  type KV,
  type KvEntry,
  type KvWatchEntry,
  MAX_DELIVER,
  type ProvisionOptions,
  provisionCluster,
} from "./provision.js";
export { type ServiceContext, startServiceContext } from "./service-context.js";
export { type BucketWatch, pause, readAll, type WatchBucketOptions, watchBucket } from "./watch.js";
