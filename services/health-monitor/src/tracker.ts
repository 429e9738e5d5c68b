import type { HealthState, NodeHealthRecord, NodeRecord } from "@openclaw/protocol";

export interface TrackerOptions {
  /** No heartbeat for this long: offline. */
  heartbeatTimeoutMs: number;
  /** Missed heartbeat intervals before online becomes suspect. */
  unhealthyThreshold: number;
  /** Heartbeats in a row before suspect/offline becomes online again. */
  healthyThreshold: number;
}

export interface Transition {
  nodeId: string;
  from: HealthState | undefined;
  to: HealthState;
  reason: string;
  /** Whether this change is news for the event stream (joins and leaves are the registry's). */
  emit: boolean;
}

interface Tracked {
  session: string;
  intervalMs: number;
  active: boolean;
  status: HealthState;
  reason: string;
  since: number;
  lastSeen: number;
  missed: number;
  consecutive: number;
  /** The record changed since it was last written to the node_health bucket. */
  dirty: boolean;
}

/**
 * Node liveness from heartbeats, using only this process's clock (ages are measured from when
 * heartbeats arrived here), so clock skew between machines cannot mark a node dead. Pure: the
 * caller passes `now` and decides what to write and publish.
 */
export class HealthTracker {
  readonly #o: TrackerOptions;
  readonly #nodes = new Map<string, Tracked>();

  constructor(options: TrackerOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** A node record from the registry's bucket: new sessions are alive, left nodes are offline. */
  observeNode(record: NodeRecord, now: number): Transition | undefined {
    const id = record.node.node_id;
    const t = this.#nodes.get(id);
    if (record.state === "left") {
      if (!t?.active) {
        if (!t) this.#nodes.set(id, this.#fresh(record, now, "offline", "left"));
        return undefined;
      }
      t.active = false;
      return this.#move(id, t, "offline", "left", now, false);
    }
    if (!t || t.session !== record.node.session || !t.active) {
      const from = t?.status;
      const fresh = this.#fresh(record, now, "online", "registered");
      this.#nodes.set(id, fresh);
      return { nodeId: id, from, to: "online", reason: "registered", emit: false };
    }
    t.intervalMs = record.node.heartbeat_interval_ms;
    return undefined;
  }

  /** A heartbeat arrived; may bring a suspect or offline node back online. */
  observeHeartbeat(nodeId: string, session: string, now: number): Transition | undefined {
    const t = this.#nodes.get(nodeId);
    if (!t?.active || t.session !== session) return undefined;
    t.lastSeen = now;
    if (t.missed !== 0) t.dirty = true;
    t.missed = 0;
    if (t.status === "online") return undefined;
    t.consecutive += 1;
    t.dirty = true;
    if (t.consecutive < this.#o.healthyThreshold) return undefined;
    return this.#move(nodeId, t, "online", "heartbeats resumed", now, true);
  }

  /** Ages every active node; returns the status changes. */
  check(now: number): Transition[] {
    const out: Transition[] = [];
    for (const [id, t] of this.#nodes) {
      if (!t.active) continue;
      const age = now - t.lastSeen;
      const missed = Math.floor(age / t.intervalMs);
      if (missed !== t.missed) {
        t.missed = missed;
        t.dirty = true;
      }
      if (age > this.#o.heartbeatTimeoutMs) {
        if (t.status !== "offline") out.push(this.#move(id, t, "offline", "heartbeat_timeout", now, true));
      } else if (t.status === "online" && missed >= this.#o.unhealthyThreshold) {
        out.push(this.#move(id, t, "suspect", `missed ${missed} heartbeats`, now, true));
      }
    }
    return out;
  }

  /**
   * Adopts what a previous leader published (the node_health bucket), so a new leader reports
   * transitions relative to it. Liveness stays this process's own observation.
   */
  adopt(record: NodeHealthRecord): void {
    const t = this.#nodes.get(record.node_id);
    if (!t || t.session !== record.session) return;
    t.status = record.status;
    t.reason = record.reason;
    t.since = Date.parse(record.since);
    t.consecutive = record.status === "online" ? 0 : record.consecutive_heartbeats;
  }

  /** Records whose content changed since the last call, ready for the node_health bucket. */
  takeDirty(now: number): NodeHealthRecord[] {
    const out: NodeHealthRecord[] = [];
    for (const [id, t] of this.#nodes) {
      if (!t.dirty) continue;
      t.dirty = false;
      out.push(this.record(id, now) as NodeHealthRecord);
    }
    return out;
  }

  record(nodeId: string, now: number): NodeHealthRecord | undefined {
    const t = this.#nodes.get(nodeId);
    if (!t) return undefined;
    return {
      node_id: nodeId,
      session: t.session,
      status: t.status,
      reason: t.reason,
      since: new Date(t.since).toISOString(),
      last_seen: new Date(t.lastSeen).toISOString(),
      missed_heartbeats: t.missed,
      consecutive_heartbeats: t.consecutive,
      checked_at: new Date(now).toISOString(),
    };
  }

  #fresh(record: NodeRecord, now: number, status: HealthState, reason: string): Tracked {
    return {
      session: record.node.session,
      intervalMs: record.node.heartbeat_interval_ms,
      active: record.state === "active",
      status,
      reason,
      since: now,
      lastSeen: now,
      missed: 0,
      consecutive: 0,
      dirty: true,
    };
  }

  #move(id: string, t: Tracked, to: HealthState, reason: string, now: number, emit: boolean): Transition {
    const from = t.status;
    t.status = to;
    t.reason = reason;
    t.since = now;
    t.consecutive = 0;
    t.dirty = true;
    return { nodeId: id, from, to, reason, emit };
  }
}
