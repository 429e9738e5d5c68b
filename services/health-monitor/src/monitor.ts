import { randomUUID } from "node:crypto";
import {
  decode,
  encode,
  errorMessage,
  isCasConflict,
  LeaderLease,
  pingNode,
  publishLeaderElected,
  publishNodeEvent,
  type ServiceContext,
  serveElection,
  watchBucket,
} from "@openclaw/bus";
import { counter, gauge } from "@openclaw/metrics";
import { envelope, type NodeEvent, NodeHealthRecord, NodeHeartbeat, NodeRecord } from "@openclaw/protocol";
import { HealthTracker, type Transition } from "./tracker.js";

const announced = counter(
  "openclaw_health_transitions_total",
  "Node health changes this monitor announced, by new state (and, for offline, why)",
  ["to", "reason"],
);
const leaderGauge = gauge(
  "openclaw_health_monitor_leader",
  "1 while this instance leads the health-monitor role",
);

export interface HealthMonitor {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export const HEALTH_MONITOR_ROLE = "health-monitor";

/** Ages are measured on the monotonic clock: a wall-clock step cannot mark every node dead. */
const now = () => performance.now();
const toIso = (t: number) => new Date(Date.now() - (performance.now() - t)).toISOString();
/** How long a ping waits for its answer; "no responders" comes back at once. */
const PING_TIMEOUT_MS = 1000;

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
    toIso,
  });
  /** Events decided but not yet published, in order, each with a fixed id (so a retry is deduplicated). */
  let outbox: NodeEvent[] = [];
  /** KV revision of each node_health key as this leader last wrote or read it, for compare-and-set. */
  const revisions = new Map<string, number>();
  let stopped = false;

  const lease = new LeaderLease({
    kv: cluster.kv.leases,
    role: HEALTH_MONITOR_ROLE,
    holder: ctx.sender.instance,
    ttlMs: config.cluster.election_timeout,
    renewMs: config.cluster.lease_renew_interval,
    log,
    onElected: async (term) => {
      leaderGauge.set(1);
      await adoptPublishedHealth();
      // Whatever this instance missed while it was not leading is not the nodes' fault.
      tracker.grace(now());
      await publishLeaderElected(ctx, HEALTH_MONITOR_ROLE, term).catch((err) =>
        log.warn({ error: errorMessage(err) }, "could not publish leader_elected"),
      );
      // Leadership is active once this callback returns: check right after, not at the next tick.
      setTimeout(() => void runCheck(), 0);
    },
    onLost: () => {
      leaderGauge.set(0);
      outbox = [];
      revisions.clear();
    },
  });

  async function adoptPublishedHealth(): Promise<void> {
    revisions.clear();
    for await (const key of await cluster.kv.nodeHealth.keys()) {
      const entry = await cluster.kv.nodeHealth.get(key);
      if (!entry) continue;
      revisions.set(key, entry.revision);
      if (entry.operation !== "PUT") continue;
      const rec = decode(NodeHealthRecord, entry.value);
      if (rec.ok) tracker.adopt(rec.value);
    }
  }

  function toEvent(t: Transition): NodeEvent {
    const rec = tracker.record(t.nodeId, now());
    const base = { ...envelope(ctx.sender), id: randomUUID(), node_id: t.nodeId };
    if (t.to === "offline")
      return { ...base, kind: "offline", reason: t.reason, last_seen: rec?.last_seen ?? null };
    if (t.to === "suspect") {
      return {
        ...base,
        kind: "suspect",
        missed_heartbeats: rec?.missed_heartbeats ?? 0,
        last_seen: rec?.last_seen ?? null,
      };
    }
    return { ...base, kind: "online", previous: t.from === "offline" ? "offline" : "suspect" };
  }

  /** Publishes queued events, then writes changed records; what fails is retried at the next check. */
  async function apply(transitions: Transition[]): Promise<void> {
    if (!lease.isLeader()) return;
    for (const t of transitions) {
      if (!t.emit) continue;
      log.info({ node_id: t.nodeId, from: t.from, to: t.to, reason: t.reason }, `node ${t.to}`);
      announced.inc({ to: t.to, reason: t.to === "offline" ? t.reason : "" });
      outbox.push(toEvent(t));
    }
    while (outbox.length > 0 && lease.isLeader()) {
      await publishNodeEvent(ctx, outbox[0] as NodeEvent);
      outbox.shift();
    }
    for (const { record, version } of tracker.dirty(now())) {
      if (!lease.isLeader()) return; // fenced: a deposed leader writes nothing more
      await writeHealth(record);
      tracker.written(record.node_id, version);
    }
  }

  async function writeHealth(record: NodeHealthRecord): Promise<void> {
    const key = record.node_id;
    const value = encode(record);
    for (let attempt = 0; attempt < 3; attempt++) {
      const revision = revisions.get(key);
      try {
        const next =
          revision === undefined
            ? await cluster.kv.nodeHealth.create(key, value)
            : await cluster.kv.nodeHealth.update(key, value, revision);
        revisions.set(key, next);
        return;
      } catch (err) {
        if (!isCasConflict(err)) throw err;
        // Written by a leader that has since lost the lease: take the current revision and overwrite.
        const entry = await cluster.kv.nodeHealth.get(key);
        if (entry) revisions.set(key, entry.revision);
        else revisions.delete(key);
      }
    }
  }

  let queue = Promise.resolve();
  /** Serialises every state change, so writes and events keep their order. */
  function enqueue(work: () => Promise<void>): Promise<void> {
    queue = queue.then(work).catch((err) => {
      log.error(
        { error: errorMessage(err), error_code: "OC-5000" },
        "health update failed; retrying at the next check",
      );
    });
    return queue;
  }
  function runCheck(): Promise<void> {
    return enqueue(() => apply(lease.isLeader() ? tracker.check(now()) : []));
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
      const t = tracker.observeHeartbeat(hb.value.node_id, hb.value.session, now());
      if (t) void enqueue(() => apply([t]));
    },
  });

  void (async () => {
    for await (const s of cluster.nc.status()) {
      // While disconnected this process saw no heartbeats: that says nothing about the nodes.
      if (s.type === "reconnect") tracker.grace(now());
    }
  })().catch(() => undefined);

  const nodes = watchBucket({
    kv: cluster.kv.nodes,
    bucket: names.buckets.nodes,
    schema: NodeRecord,
    keyOf: (r) => r.node.node_id,
    onValue: (r) => {
      const t = tracker.observeNode(r, now());
      if (t) void enqueue(() => apply([t]));
    },
    log,
  });
  // Know every node before leading, or a new leader would judge a table it has not read yet.
  await nodes.ready;

  /** Pings the nodes whose heartbeats are `unreachable_timeout` late; a node nobody answers for is offline. */
  const unreachableMs = config.health.unreachable_timeout;
  function probeLate(): void {
    if (!lease.isLeader() || cluster.nc.isClosed()) return;
    for (const node of tracker.toProbe(now(), unreachableMs)) {
      void pingNode(cluster.nc, names, node, PING_TIMEOUT_MS).then((answer) => {
        const t = tracker.probed(node.nodeId, node.session, answer, now(), unreachableMs);
        if (t) void enqueue(() => apply([t]));
      });
    }
  }

  serveElection(ctx, lease); // oclaw elect: the leader steps down on request
  lease.start();
  const timer = setInterval(() => void runCheck(), config.coordinator.heartbeat_check_interval);
  // Scanned more often than the check: a dead node should not wait for a slow check interval.
  const prober =
    unreachableMs > 0 ? setInterval(probeLate, Math.max(50, Math.min(250, unreachableMs / 4))) : undefined;
  log.info(
    {
      heartbeat_timeout_ms: config.coordinator.heartbeat_timeout,
      check_interval_ms: config.coordinator.heartbeat_check_interval,
      unreachable_timeout_ms: unreachableMs,
      nodes: tracker.size,
    },
    "health monitor started",
  );

  return {
    isLeader: () => lease.isLeader(),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      clearInterval(prober);
      heartbeats.unsubscribe();
      await nodes.stop();
      await queue;
      await lease.stop();
    },
  };
}
