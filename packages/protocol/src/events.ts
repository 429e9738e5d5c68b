import { z } from "zod";
import { EnvelopeFields } from "./envelope.js";
import { NodeId, Token } from "./ids.js";
import { NodeDescriptor } from "./node.js";

const NodeEventBase = { ...EnvelopeFields, node_id: NodeId };

/** A node came up: first registration, or a new worker process after a restart or a leave. */
export const NodeJoined = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("joined"),
  node: NodeDescriptor,
  registered_at: z.iso.datetime(),
});
/** A live node re-registered with a changed descriptor (for example its skills folder changed). */
export const NodeUpdated = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("updated"),
  node: NodeDescriptor,
});
/** A node left the cluster on purpose (SIGINT/SIGTERM). */
export const NodeLeft = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("left"),
  reason: z.string().max(200),
});
/** Heartbeats are late: `unhealthy_threshold` intervals went by without one. */
export const NodeSuspect = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("suspect"),
  missed_heartbeats: z.number().int().min(0),
  last_seen: z.iso.datetime().nullable(),
});
/**
 * The node is taken for dead: `heartbeat_timeout` (no heartbeat for that long) or `unreachable`
 * (late heartbeats and nobody answers on its subject: its process or connection is gone).
 */
export const NodeOffline = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("offline"),
  reason: z.string().max(200),
  last_seen: z.iso.datetime().nullable(),
});
/** Heartbeats resumed (`healthy_threshold` in a row) after suspect or offline. */
export const NodeOnline = z.strictObject({
  ...NodeEventBase,
  kind: z.literal("online"),
  previous: z.enum(["suspect", "offline"]),
});

export const NodeEvent = z.discriminatedUnion("kind", [
  NodeJoined,
  NodeUpdated,
  NodeLeft,
  NodeSuspect,
  NodeOffline,
  NodeOnline,
]);
export type NodeEvent = z.infer<typeof NodeEvent>;
export type NodeJoined = z.infer<typeof NodeJoined>;
export type NodeUpdated = z.infer<typeof NodeUpdated>;
export type NodeLeft = z.infer<typeof NodeLeft>;
export type NodeSuspect = z.infer<typeof NodeSuspect>;
export type NodeOffline = z.infer<typeof NodeOffline>;
export type NodeOnline = z.infer<typeof NodeOnline>;

/** `cluster.leader_elected` of seed 003: a service instance took a role's leader lease. */
export const LeaderElected = z.strictObject({
  ...EnvelopeFields,
  kind: z.literal("leader_elected"),
  role: Token,
  leader: z.string().min(1).max(128),
  term: z.number().int().min(1),
});
export type LeaderElected = z.infer<typeof LeaderElected>;

/** The value of a key in the `leases` bucket. */
export const LeaseRecord = z.strictObject({
  role: Token,
  holder: z.string().min(1).max(128),
  term: z.number().int().min(1),
  acquired_at: z.iso.datetime(),
  renewed_at: z.iso.datetime(),
});
export type LeaseRecord = z.infer<typeof LeaseRecord>;
