import {
  EMPTY_LOAD,
  EMPTY_STATS,
  type NodeDescriptor,
  type NodeHeartbeat,
  type NodeLeave,
  type NodeRecord,
  type NodeRegister,
} from "@openclaw/protocol";

export type NodeMessage =
  | { kind: "register"; body: NodeRegister }
  | { kind: "heartbeat"; body: NodeHeartbeat }
  | { kind: "leave"; body: NodeLeave };

export type NodeEventKind = "joined" | "updated" | "left";

export type Outcome =
  /**
   * Nothing to write (stale, duplicate, or from a session that is not the current one). When the
   * message was already applied and produced an event, `republish` names it: the first delivery
   * may have crashed between the write and the publish.
   */
  | { action: "ignore"; why: string; republish?: NodeEventKind }
  /** The node is unknown or its session changed: ask the worker to register again. */
  | { action: "reregister"; why: string }
  | { action: "write"; record: NodeRecord; event?: NodeEventKind };

function sameDescriptor(a: NodeDescriptor, b: NodeDescriptor): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What one NODES message does to a node's record. Pure: the registry applies the outcome with
 * compare-and-set and publishes the event. `seq` is the message's stream sequence and `at` the
 * server's receive time, so replicas agree and clock skew between machines does not matter.
 */
export function applyNodeMessage(
  current: NodeRecord | undefined,
  msg: NodeMessage,
  seq: number,
  at: string,
): Outcome {
  if (current && seq <= current.applied_seq) {
    if (seq === current.applied_seq && current.applied_event) {
      return { action: "ignore", why: "already applied", republish: current.applied_event };
    }
    return { action: "ignore", why: "already applied" };
  }
  switch (msg.kind) {
    case "register": {
      const node = msg.body.node;
      const rejoin = !current || current.state === "left" || current.node.session !== node.session;
      if (rejoin) {
        return {
          action: "write",
          event: "joined",
          record: {
            node,
            state: "active",
            registered_at: at,
            last_heartbeat: at,
            left_at: null,
            load: EMPTY_LOAD,
            // Task counters belong to the node id, not the process: keep them across restarts.
            stats: current?.stats ?? EMPTY_STATS,
            applied_seq: seq,
            applied_event: "joined",
          },
        };
      }
      const changed = !sameDescriptor(current.node, node);
      return {
        action: "write",
        ...(changed ? { event: "updated" as const } : {}),
        record: {
          ...current,
          node,
          last_heartbeat: at,
          applied_seq: seq,
          applied_event: changed ? "updated" : null,
        },
      };
    }
    case "heartbeat": {
      const hb = msg.body;
      if (!current || current.state === "left")
        return { action: "reregister", why: "heartbeat from an unregistered node" };
      if (current.node.session !== hb.session)
        return { action: "reregister", why: "heartbeat from another session" };
      return {
        action: "write",
        record: { ...current, load: hb.load, last_heartbeat: at, applied_seq: seq, applied_event: null },
      };
    }
    case "leave": {
      const leave = msg.body;
      if (!current || current.state === "left") return { action: "ignore", why: "node is not active" };
      if (current.node.session !== leave.session)
        return { action: "ignore", why: "leave from a stale session" };
      return {
        action: "write",
        event: "left",
        record: {
          ...current,
          state: "left",
          left_at: at,
          load: EMPTY_LOAD,
          applied_seq: seq,
          applied_event: "left",
        },
      };
    }
  }
}
