import {
  EMPTY_LOAD,
  EMPTY_STATS,
  type NodeDescriptor,
  type NodeDrain,
  type NodeHeartbeat,
  type NodeLeave,
  type NodeRecord,
  type NodeRegister,
} from "@openclaw/protocol";

export type NodeMessage =
  | { kind: "register"; body: NodeRegister }
  | { kind: "heartbeat"; body: NodeHeartbeat }
  | { kind: "leave"; body: NodeLeave }
  | { kind: "drain"; body: NodeDrain };

export type NodeEventKind = "joined" | "updated" | "left";

export type Outcome =
  /** Nothing to write (stale, duplicate, or from a session that is not the current one). */
  | { action: "ignore"; why: string }
  /** The node is unknown or its session changed: ask the worker to register again. */
  | { action: "reregister"; why: string }
  /** Write this record; when it carries a `pending_event`, publish that event after the write. */
  | { action: "write"; record: NodeRecord };

function sameDescriptor(a: NodeDescriptor, b: NodeDescriptor): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What one NODES message does to a node's record. Pure: the registry applies the outcome with
 * compare-and-set and publishes the record's pending event. `seq` is the message's stream
 * sequence and `at` the server's receive time, so replicas agree and clock skew does not matter.
 * `current` must have no pending event left (the caller publishes it first).
 */
export function applyNodeMessage(
  current: NodeRecord | undefined,
  msg: NodeMessage,
  seq: number,
  at: string,
): Outcome {
  switch (msg.kind) {
    case "register": {
      if (current && seq <= current.membership_seq) return { action: "ignore", why: "already applied" };
      const node = msg.body.node;
      const rejoin = !current || current.state === "left" || current.node.session !== node.session;
      if (rejoin) {
        // An operator's drain outlives the process; a worker's own drain ends with its session.
        const drain = current?.drain && current.drain.session === null ? current.drain : null;
        return {
          action: "write",
          record: {
            node,
            state: "active",
            registered_at: at,
            last_heartbeat: at,
            left_at: null,
            load: EMPTY_LOAD,
            // Task counters belong to the node id, not the process: keep them across restarts.
            stats: current?.stats ?? EMPTY_STATS,
            membership_seq: seq,
            heartbeat_seq: current?.heartbeat_seq ?? 0,
            drain,
            drain_seq: current?.drain_seq ?? 0,
            pending_event: { kind: "joined", seq, reason: drain ? `drained: ${drain.reason}` : "" },
          },
        };
      }
      const changed = !sameDescriptor(current.node, node);
      return {
        action: "write",
        record: {
          ...current,
          node,
          last_heartbeat: later(current.last_heartbeat, at),
          membership_seq: seq,
          pending_event: changed ? { kind: "updated", seq, reason: "" } : null,
        },
      };
    }
    case "heartbeat": {
      const hb = msg.body;
      if (current && seq <= current.heartbeat_seq) return { action: "ignore", why: "already applied" };
      if (!current || current.state === "left")
        return { action: "reregister", why: "heartbeat from an unregistered node" };
      if (current.node.session !== hb.session)
        return { action: "reregister", why: "heartbeat from another session" };
      return {
        action: "write",
        record: {
          ...current,
          load: hb.load,
          last_heartbeat: later(current.last_heartbeat, at),
          heartbeat_seq: seq,
        },
      };
    }
    case "drain":
      return applyDrain(current, msg.body, seq, at);
    case "leave": {
      const leave = msg.body;
      if (current && seq <= current.membership_seq) return { action: "ignore", why: "already applied" };
      if (!current || current.state === "left") return { action: "ignore", why: "node is not active" };
      if (current.node.session !== leave.session)
        return { action: "ignore", why: "leave from a stale session" };
      return {
        action: "write",
        record: {
          ...current,
          state: "left",
          left_at: at,
          load: EMPTY_LOAD,
          membership_seq: seq,
          pending_event: { kind: "left", seq, reason: leave.reason || "left the cluster" },
        },
      };
    }
  }
}

/** Drain or undrain; a worker's own drain applies only to the session that sent it. */
function applyDrain(current: NodeRecord | undefined, d: NodeDrain, seq: number, at: string): Outcome {
  if (!current) return { action: "ignore", why: "unknown node" };
  if (seq <= current.drain_seq) return { action: "ignore", why: "already applied" };
  if (d.session !== null && d.session !== current.node.session)
    return { action: "ignore", why: "drain from a stale session" };
  if (!d.draining && current.drain === null)
    return { action: "write", record: { ...current, drain_seq: seq } };
  const drain = d.draining
    ? { since: current.drain?.since ?? at, reason: d.reason || "drained", session: d.session }
    : null;
  const reason = drain ? `draining: ${drain.reason}` : "undrained";
  return {
    action: "write",
    record: { ...current, drain, drain_seq: seq, pending_event: { kind: "updated", seq, reason } },
  };
}

function later(a: string | null, b: string): string {
  return a !== null && a > b ? a : b;
}
