import { type ServiceContext, watchBucket } from "@openclaw/bus";
import { NodeHealthRecord, NodeRecord } from "@openclaw/protocol";
import type { Heartbeat } from "./heartbeat-checks.js";
import type { NodeView } from "./placement.js";

interface Entry {
  record: NodeRecord;
  health: NodeHealthRecord | undefined;
  skills: ReadonlySet<string>;
  successRate: number;
  latencyMs: number;
}

/** Weight of the newest outcome in the running averages. */
const EWMA = 0.2;

/**
 * Every node as the registry and the health monitor see it, kept current by watching their
 * buckets. Both leader and standby keep one, so a new leader can place at once.
 */
export class NodeTable {
  readonly #nodes = new Map<string, Entry>();
  /**
   * Health of nodes whose own record has not arrived yet. The two buckets replay independently:
   * dropping such a record made a dead node read as healthy to a new leader.
   */
  readonly #healthAhead = new Map<string, NodeHealthRecord>();
  readonly #watches;
  readonly ready: Promise<void>;

  /**
   * @param onChange a node's record or health changed; `lost` when attempts on it can no longer
   * finish (it left, went offline or its worker restarted), so they should be looked at now.
   */
  constructor(ctx: ServiceContext, onChange: (nodeId: string, lost: boolean) => void) {
    const { cluster, log } = ctx;
    const nodes = watchBucket({
      kv: cluster.kv.nodes,
      bucket: cluster.names.buckets.nodes,
      schema: NodeRecord,
      keyOf: (r) => r.node.node_id,
      log,
      onValue: (record) => {
        const id = record.node.node_id;
        const prev = this.#nodes.get(id);
        const wasGone = this.gone(id);
        const ahead = this.#healthAhead.get(id);
        this.#healthAhead.delete(id);
        this.#nodes.set(id, {
          record,
          health: prev?.health ?? ahead,
          skills: new Set(record.node.skills.map((s) => s.name)),
          successRate: prev?.successRate ?? 1,
          latencyMs: prev?.latencyMs ?? 0,
        });
        const restarted = prev !== undefined && prev.record.node.session !== record.node.session;
        onChange(id, restarted || (wasGone === null && this.gone(id) !== null));
      },
    });
    const health = watchBucket({
      kv: cluster.kv.nodeHealth,
      bucket: cluster.names.buckets.nodeHealth,
      schema: NodeHealthRecord,
      keyOf: (h) => h.node_id,
      log,
      onValue: (h) => {
        const entry = this.#nodes.get(h.node_id);
        const wasGone = this.gone(h.node_id);
        if (entry) entry.health = h;
        else this.#healthAhead.set(h.node_id, h);
        onChange(h.node_id, wasGone === null && this.gone(h.node_id) !== null);
      },
    });
    this.#watches = [nodes, health];
    this.ready = Promise.all([nodes.ready, health.ready]).then(() => undefined);
  }

  /** Why a node cannot take work now, or null. */
  #unusable(e: Entry): string | null {
    if (e.record.state === "left") return "left the cluster";
    if (e.record.drain) return `draining (${e.record.drain.reason})`;
    // Health is about one worker process: a record of an earlier session says nothing of this one.
    const h = e.health?.session === e.record.node.session ? e.health : undefined;
    if (h?.status === "offline") return "offline";
    if (h?.status === "suspect") return "heartbeats late";
    return null;
  }

  /**
   * Views for placement, with the scheduler's own count of attempts in flight per node and
   * `blocked`, the scheduler's own reasons to keep work off a node (its circuit breaker).
   */
  views(inflight: ReadonlyMap<string, number>, blocked?: (nodeId: string) => string | null): NodeView[] {
    const out: NodeView[] = [];
    for (const [id, e] of this.#nodes) {
      const unusable = this.#unusable(e);
      out.push({
        id,
        labels: e.record.node.labels,
        zone: e.record.node.zone,
        skills: e.skills,
        capacity: e.record.node.max_concurrent_tasks,
        inflight: inflight.get(id) ?? 0,
        unusable: unusable ?? (blocked ? blocked(id) : null),
        successRate: e.successRate,
        latencyMs: e.latencyMs,
      });
    }
    return out;
  }

  /** Task ids the node said it was running in its last heartbeat. */
  running(nodeId: string): readonly string[] {
    return this.#nodes.get(nodeId)?.record.load.running_task_ids ?? [];
  }

  /** The last heartbeat of each node that listed running tasks in it. */
  *heartbeats(): Iterable<[string, Heartbeat]> {
    for (const id of this.#nodes.keys()) {
      const hb = this.heartbeat(id);
      if (hb && hb.running.length > 0) yield [id, hb];
    }
  }

  /** The node's last heartbeat as the registry stored it: NODES sequence, server time, and what it listed. */
  heartbeat(nodeId: string): Heartbeat | undefined {
    const r = this.#nodes.get(nodeId)?.record;
    if (r?.state !== "active" || r.last_heartbeat === null || r.heartbeat_seq === 0) return undefined;
    return { seq: r.heartbeat_seq, at: Date.parse(r.last_heartbeat), running: r.load.running_task_ids };
  }

  /** The node's current worker session, if it is known. */
  session(nodeId: string): string | undefined {
    return this.#nodes.get(nodeId)?.record.node.session;
  }

  /**
   * Why attempts on this node will never finish: it left, or it is offline. Null while it may
   * still finish them (including while suspect).
   */
  gone(nodeId: string): string | null {
    const e = this.#nodes.get(nodeId);
    if (!e) return null;
    if (e.record.state === "left") return "left the cluster";
    const h = e.health?.session === e.record.node.session ? e.health : undefined;
    return h?.status === "offline" ? "went offline" : null;
  }

  /** An attempt on the node ended: feeds the adaptive strategy. */
  recordOutcome(nodeId: string, ok: boolean, durationMs: number): void {
    const e = this.#nodes.get(nodeId);
    if (!e) return;
    e.successRate = (1 - EWMA) * e.successRate + EWMA * (ok ? 1 : 0);
    if (ok) e.latencyMs = (1 - EWMA) * e.latencyMs + EWMA * durationMs;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((w) => w.stop()));
  }
}
