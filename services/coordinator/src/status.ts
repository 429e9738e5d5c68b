import type { BreakerState, HealthState } from "@openclaw/protocol";

/** A node's status as the HTTP API reports it (the enum of seed 004's node record). */
export const NODE_STATUSES = ["online", "offline", "busy", "maintenance", "error"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** Statuses of a node that can take work: `/nodes/online` and the skill lookup return these. */
export const UP_STATUSES: readonly NodeStatus[] = ["online", "busy"];

export interface StatusInputs {
  /** The registry's view: `left` once the node said goodbye. */
  state: "active" | "left";
  /** The health monitor's view; null until it has written one. */
  health: HealthState | null;
  running_tasks: number;
  max_concurrent_tasks: number;
  /** Drained (by an operator, or a worker shutting down): takes no new work. */
  drained?: boolean;
  /** The scheduler's circuit breaker for the node; null or absent when it has none. */
  breaker?: BreakerState | null;
}

/**
 * The one place a node's status is derived: `offline` when it left or the health monitor says
 * offline; `maintenance` while drained; `error` while its circuit breaker is open; `busy` when
 * every slot is taken; else `online`.
 */
export function deriveStatus(n: StatusInputs): NodeStatus {
  if (n.state === "left" || n.health === "offline") return "offline";
  if (n.drained) return "maintenance";
  if (n.breaker === "open") return "error";
  if (n.running_tasks >= n.max_concurrent_tasks) return "busy";
  return "online";
}
