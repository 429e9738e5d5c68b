import {
  decode,
  encode,
  LeaderLease,
  publishLeaderElected,
  publishNodeEvent,
  type ServiceContext,
} from "@openclaw/bus";
import { envelope, type NodeEvent, NodeHealthRecord, NodeHeartbeat, NodeRecord } from "@openclaw/protocol";
import { HealthTracker, type Transition } from "./tracker.js";

export interface HealthMonitor {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export const HEALTH_MONITOR_ROLE = "health-monitor";

/**
 * The health monitor. Every instance watches heartbeats and the node table, so a standby is warm;
 * only the lease holder writes the `node_health` bucket and publishes suspect/offline/online.
 */
export async function startHealthMonitor(ctx: ServiceContext): Promise<HealthMonitor> {
  const { cluster, log, config } = ctx;
  const { names } = cluster;
  const tracker = new HealthTracker({
    heartbeatTimeoutMs: config.coordinator.heartbeat_timeout,
    unhealthyThreshold: config.health.unhealthy_threshold,
    healthyThreshold: config.health.healthy_threshold,
  });
  let stopped = false;

  const lease = new LeaderLease({
    kv: cluster.kv.leases,
    role: HEALTH_MONITOR_ROLE,
    holder: ctx.sender.instance,
    ttlMs: config.cluster.election_timeout,
    renewMs: config.cluster.lease_renew_interval,
    log,
    onElected: async (term) => {
      await adoptPublishedHealth();
      await publishLeaderElected(ctx, HEALTH_MONITOR_ROLE, term).catch((err) =>
        log.warn({ error: (err as Error).message }, "could not publish leader_elected"),
      );
      // Leadership is active once this callback returns: check right after, not at the next tick.
      setTimeout(() => void runCheck(), 0);
    },
  });

  async function adoptPublishedHealth(): Promise<void> {
    const keys = await cluster.kv.nodeHealth.keys();
    for await (const key of keys) {
      const entry = await cluster.kv.nodeHealth.get(key);
      if (entry?.operation !== "PUT") continue;
      const rec = decode(NodeHealthRecord, entry.value);
      if (rec.ok) tracker.adopt(rec.value);
    }
  }

  async function apply(transitions: Transition[]): Promise<void> {
    if (!lease.isLeader()) return;
    const now = Date.now();
    for (const t of transitions) {
      if (!t.emit) continue;
      const rec = tracker.record(t.nodeId, now);
      const base = { ...envelope(ctx.sender), node_id: t.nodeId };
      let event: NodeEvent;
      if (t.to === "offline")
        event = { ...base, kind: "offline", reason: t.reason, last_seen: rec?.last_seen ?? null };
      else if (t.to === "suspect") {
        event = {
          ...base,
          kind: "suspect",
          missed_heartbeats: rec?.missed_heartbeats ?? 0,
          last_seen: rec?.last_seen ?? null,
        };
      } else event = { ...base, kind: "online", previous: t.from === "offline" ? "offline" : "suspect" };
      log.info({ node_id: t.nodeId, from: t.from, to: t.to, reason: t.reason }, `node ${t.to}`);
      await publishNodeEvent(ctx, event);
    }
    for (const rec of tracker.takeDirty(now)) {
      await cluster.kv.nodeHealth.put(rec.node_id, encode(rec));
    }
  }

  let queue = Promise.resolve();
  /** Serialises every state change, so writes and events keep their order. */
  function enqueue(work: () => Promise<void>): void {
    queue = queue.then(work).catch((err) => {
      log.error({ error: (err as Error).message, error_code: "OC-5000" }, "health update failed");
    });
  }
  function runCheck(): Promise<void> {
    enqueue(() => apply(lease.isLeader() ? tracker.check(Date.now()) : []));
    return queue;
  }

  const heartbeats = cluster.nc.subscribe(names.subjects.nodeMessageWildcard("heartbeat"), {
    callback: (err, msg) => {
      if (err) return;
      const parts = names.parseNodeSubject(msg.subject);
      const hb = decode(NodeHeartbeat, msg.data);
      if (!hb.ok || !parts || hb.value.node_id !== parts.nodeId) {
        log.debug({ subject: msg.subject, error_code: "OC-2002" }, "invalid heartbeat ignored");
        return;
      }
      const t = tracker.observeHeartbeat(hb.value.node_id, hb.value.session, Date.now());
      if (t) enqueue(() => apply([t]));
    },
  });

  const watch = await cluster.kv.nodes.watch();
  const watching = (async () => {
    for await (const entry of watch) {
      if (entry.operation !== "PUT") continue;
      const rec = decode(NodeRecord, entry.value);
      if (!rec.ok || rec.value.node.node_id !== entry.key) {
        log.warn({ key: entry.key, error_code: "OC-2002" }, "invalid node record ignored");
        continue;
      }
      const t = tracker.observeNode(rec.value, Date.now());
      if (t) enqueue(() => apply([t]));
    }
  })();

  lease.start();
  const timer = setInterval(() => void runCheck(), config.coordinator.heartbeat_check_interval);
  log.info(
    {
      heartbeat_timeout_ms: config.coordinator.heartbeat_timeout,
      check_interval_ms: config.coordinator.heartbeat_check_interval,
    },
    "health monitor started",
  );

  return {
    isLeader: () => lease.isLeader(),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      heartbeats.unsubscribe();
      watch.stop();
      await watching.catch(() => undefined);
      await queue;
      await lease.stop();
    },
  };
}
