import type { HealthState, NodeHealthRecord, NodeRecord } from "@openclaw/protocol";

/** How often a session that has not answered a ping yet is asked again. */
const CONFIRM_MS = 30_000;

export interface TrackerOptions {
  /** No heartbeat for this long: offline. */
  heartbeatTimeoutMs: number;
  /** Missed heartbeat intervals before online becomes suspect. */
  unhealthyThreshold: number;
  /** Heartbeats in a row before suspect/offline becomes online again. */
  healthyThreshold: number;
  /** Turns a time of the tracker's clock into a wall-clock ISO string for records. */
  toIso?: (t: number) => string;
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
  /** A ping is out (see `toProbe`), and when the last one went. */
  probing: boolean;
  probedAt: number;
  /**
   * This session has answered a ping: only then does "nobody answers" mean it is gone (a worker
   * of a version without pings never answers, and must wait for the heartbeat timeout).
   */
  pingable: boolean;
  /** Bumped on every change; the record is dirty while `version > written`. */
  version: number;
  written: number;
}

/**
 * Node liveness from heartbeats, measured on this process's own clock from when heartbeats
 * arrived here, so clock skew between machines cannot kill a node. Pure: the caller passes `now`
 * (a monotonic clock in production) and decides what to write and publish.
 */
export class HealthTracker {
  readonly #o: TrackerOptions;
  readonly #toIso: (t: number) => string;
  readonly #nodes = new Map<string, Tracked>();

  constructor(options: TrackerOptions) {
    this.#o = options;
    this.#toIso = options.toIso ?? ((t) => new Date(t).toISOString());
  }

  get size(): number {
    return this.#nodes.size;
  }

  /** A node record from the registry's bucket: new sessions are alive, left nodes are offline. */
  observeNode(record: NodeRecord, now: number): Transition | undefined {
    const id = record.node.node_id;
    const t = this.#nodes.get(id);
    if (record.state === "left") {
      if (!t) {
        this.#nodes.set(id, this.#fresh(record, now, "offline", "left"));
        return undefined;
      }
      if (!t.active) return undefined;
      t.active = false;
      return this.#move(id, t, "offline", "left", now, false);
    }
    if (!t || t.session !== record.node.session || !t.active) {
      const from = t?.status;
      this.#nodes.set(id, this.#fresh(record, now, "online", "registered"));
      return { nodeId: id, from, to: "online", reason: "registered", emit: false };
    }
    t.intervalMs = record.node.heartbeat_interval_ms;
    return undefined;
  }

  /** A heartbeat arrived; may bring a suspect or offline node back online. */
  observeHeartbeat(nodeId: string, session: string, now: number): Transition | undefined {
    const t = this.#nodes.get(nodeId);
    if (!t?.active || t.session !== session) return undefined;
    // "In a row": a gap of more than one and a half intervals restarts the count.
    if (t.status !== "online" && now - t.lastSeen > t.intervalMs * 1.5) t.consecutive = 0;
    t.lastSeen = now;
    if (t.missed !== 0) this.#touch(t);
    t.missed = 0;
    if (t.status === "online") return undefined;
    t.consecutive += 1;
    this.#touch(t);
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
      // Once offline the count stops moving: a long-dead node costs no write per check.
      if (missed !== t.missed && t.status !== "offline") {
        t.missed = missed;
        this.#touch(t);
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
   * Nodes to ping now, each then counted as pinged (one ping out per node at a time):
   * - a session that has not answered a ping yet, once every `CONFIRM_MS`, to learn that it can;
   * - a session that can, once its last heartbeat is `afterMs` old (and at least one and a half
   *   intervals, so a punctual node is never pinged between two heartbeats), once an interval.
   */
  toProbe(now: number, afterMs: number): { nodeId: string; session: string }[] {
    const out: { nodeId: string; session: string }[] = [];
    for (const [id, t] of this.#nodes) {
      if (!t.active || t.status === "offline" || t.probing) continue;
      const due = t.pingable
        ? now - t.probedAt >= t.intervalMs && this.#late(t, now, afterMs)
        : now - t.probedAt >= CONFIRM_MS;
      if (!due) continue;
      t.probing = true;
      t.probedAt = now;
      out.push({ nodeId: id, session: t.session });
    }
    return out;
  }

  /**
   * A ping's outcome. `alive` (it answered) marks the session as one that answers pings. `gone`
   * (nobody listens on the node's subject: its process or its connection died) turns such a
   * session, if it is still late, offline. `unknown` (no answer in time: frozen, or slow) leaves
   * it to the heartbeat timeout.
   */
  probed(
    nodeId: string,
    session: string,
    answer: "alive" | "gone" | "unknown",
    now: number,
    afterMs: number,
  ): Transition | undefined {
    const t = this.#nodes.get(nodeId);
    if (!t || t.session !== session) return undefined;
    t.probing = false;
    if (answer === "alive") t.pingable = true;
    if (answer !== "gone" || !t.pingable || !t.active || t.status === "offline") return undefined;
    if (!this.#late(t, now, afterMs)) return undefined;
    return this.#move(nodeId, t, "offline", "unreachable", now, true);
  }

  #late(t: Tracked, now: number, afterMs: number): boolean {
    const age = now - t.lastSeen;
    return age >= afterMs && age >= t.intervalMs * 1.5;
  }

  /**
   * This process could not see heartbeats for a while (it was disconnected, or just took over):
   * count every node as seen now, so its own blindness does not mark nodes dead.
   */
  grace(now: number): void {
    for (const t of this.#nodes.values()) if (t.active && t.lastSeen < now) t.lastSeen = now;
  }

  /**
   * Adopts what a previous leader published (the node_health bucket), so a new leader reports
   * transitions relative to it. Liveness stays this process's own observation.
   */
  adopt(record: NodeHealthRecord): void {
    const t = this.#nodes.get(record.node_id);
    if (!t || t.session !== record.session || !t.active) return;
    t.status = record.status;
    t.reason = record.reason;
    t.consecutive = record.status === "online" ? 0 : record.consecutive_heartbeats;
    t.written = t.version; // what the bucket holds is what we now hold
  }

  /** Records changed since they were last written, each with the version to confirm. */
  dirty(now: number): { record: NodeHealthRecord; version: number }[] {
    const out: { record: NodeHealthRecord; version: number }[] = [];
    for (const [id, t] of this.#nodes) {
      if (t.version > t.written) out.push({ record: this.#record(id, t, now), version: t.version });
    }
    return out;
  }

  /** The record was stored at `version`; it stays dirty if it changed since. */
  written(nodeId: string, version: number): void {
    const t = this.#nodes.get(nodeId);
    if (t && version > t.written) t.written = version;
  }

  record(nodeId: string, now: number): NodeHealthRecord | undefined {
    const t = this.#nodes.get(nodeId);
    return t ? this.#record(nodeId, t, now) : undefined;
  }

  #record(nodeId: string, t: Tracked, now: number): NodeHealthRecord {
    return {
      node_id: nodeId,
      session: t.session,
      status: t.status,
      reason: t.reason,
      since: this.#toIso(t.since),
      last_seen: this.#toIso(t.lastSeen),
      missed_heartbeats: t.missed,
      consecutive_heartbeats: t.consecutive,
      checked_at: this.#toIso(now),
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
      probing: false,
      probedAt: Number.NEGATIVE_INFINITY,
      pingable: false,
      version: 1,
      written: 0,
    };
  }

  #touch(t: Tracked): void {
    t.version += 1;
  }

  #move(id: string, t: Tracked, to: HealthState, reason: string, now: number, emit: boolean): Transition {
    const from = t.status;
    t.status = to;
    t.reason = reason;
    t.since = now;
    t.consecutive = 0;
    this.#touch(t);
    return { nodeId: id, from, to, reason, emit };
  }
}
