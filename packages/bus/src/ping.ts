import { type NatsConnection, RequestError, type Subscription } from "@nats-io/transport-node";
import { envelope, type Names, NodePong, type Sender } from "@openclaw/protocol";
import { decode, encode } from "./codec.js";

/**
 * Answers the health monitor's pings on `<prefix>.node.<id>.cmd.ping` for as long as the
 * connection lives: the subscription itself is what says the node's process and connection are up.
 */
export function serveNodePing(
  nc: NatsConnection,
  names: Names,
  node: { nodeId: string; session: string; sender: Sender },
): Subscription {
  return nc.subscribe(names.subjects.nodeCommand(node.nodeId, "ping"), {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      const pong: NodePong = { ...envelope(node.sender), node_id: node.nodeId, session: node.session };
      msg.respond(encode(pong));
    },
  });
}

/**
 * What a ping says of a node's session: `alive` (it answered), `gone` (nobody listens on its
 * subject: NATS answered "no responders" at once), or `unknown` (no answer in time, another
 * session answered, or the request failed: nothing can be concluded).
 */
export type PingAnswer = "alive" | "gone" | "unknown";

export async function pingNode(
  nc: NatsConnection,
  names: Names,
  node: { nodeId: string; session: string },
  timeoutMs: number,
): Promise<PingAnswer> {
  try {
    const reply = await nc.request(names.subjects.nodeCommand(node.nodeId, "ping"), undefined, {
      timeout: timeoutMs,
    });
    const pong = decode(NodePong, reply.data);
    return pong.ok && pong.value.session === node.session ? "alive" : "unknown";
  } catch (err) {
    return err instanceof RequestError && err.isNoResponders() ? "gone" : "unknown";
  }
}
