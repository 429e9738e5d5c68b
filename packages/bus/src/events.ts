import { envelope, type LeaderElected, type NodeEvent } from "@openclaw/protocol";
import { encode } from "./codec.js";
import type { ServiceContext } from "./service-context.js";

/** Publishes a node event into the EVENTS stream (acknowledged by JetStream). */
export async function publishNodeEvent(ctx: ServiceContext, event: NodeEvent): Promise<void> {
  const subject = ctx.cluster.names.subjects.nodeEvent(event.node_id, event.kind);
  await ctx.cluster.js.publish(subject, encode(event), { msgID: event.id });
}

/** `cluster.leader_elected` (seed 003): published by whoever wins a role's lease. */
export async function publishLeaderElected(ctx: ServiceContext, role: string, term: number): Promise<void> {
  const event: LeaderElected = {
    ...envelope(ctx.sender),
    kind: "leader_elected",
    role,
    leader: ctx.sender.instance,
    term,
  };
  await ctx.cluster.js.publish(ctx.cluster.names.subjects.clusterEvent("leader_elected"), encode(event), {
    msgID: event.id,
  });
}
