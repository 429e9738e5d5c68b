import { envelope, type NodeDrain, OcError, type Sender } from "@openclaw/protocol";
import { encode } from "./codec.js";
import type { Cluster } from "./provision.js";

export interface DrainRequest {
  nodeId: string;
  /** True to drain, false to undrain. */
  draining: boolean;
  reason?: string;
  /** A worker draining itself names its session; an operator's drain has none. */
  session?: string | null;
}

/**
 * Asks the registry to drain (or undrain) a node: a NODES stream message, applied in order with
 * the node's other messages. Resolves once JetStream has stored it.
 */
export async function publishDrain(cluster: Cluster, sender: Sender, r: DrainRequest): Promise<NodeDrain> {
  const msg: NodeDrain = {
    ...envelope(sender),
    node_id: r.nodeId,
    draining: r.draining,
    reason: (r.reason ?? "").slice(0, 200),
    session: r.session ?? null,
  };
  try {
    await cluster.js.publish(cluster.names.subjects.nodeMessage(r.nodeId, "drain"), encode(msg), {
      msgID: msg.id,
    });
  } catch (err) {
    throw new OcError(
      "OC-5003",
      `NATS did not confirm the ${r.draining ? "drain" : "undrain"} of node '${r.nodeId}' (${(err as Error).message}); nothing changed, try again`,
      { cause: err },
    );
  }
  return msg;
}
