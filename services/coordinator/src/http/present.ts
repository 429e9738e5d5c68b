import type { BreakerRecord, DrainState } from "@openclaw/protocol";
import type { QueueCount } from "../db/queue-counts.js";
import type { EventRow, NodeRow, StatusTotals } from "../db/rows.js";
import { NODE_STATUSES, type NodeStatus, UP_STATUSES } from "../status.js";
import type {
  ClusterHealthJson,
  NodeEventJson,
  NodeHealthJson,
  NodeJson,
  QueueJson,
  SkillJson,
} from "./schemas.js";

type Skill = typeof SkillJson._output;

function drainOf(row: NodeRow): NodeJson["drain"] {
  if (row.drain === null) return null;
  const d = JSON.parse(row.drain) as DrainState;
  return { since: d.since, reason: d.reason, by: d.session === null ? "operator" : "worker" };
}

function breakerOf(row: NodeRow): NodeJson["circuit_breaker"] {
  if (row.breaker === null) return null;
  const { node_id: _id, ...b } = JSON.parse(row.breaker) as BreakerRecord;
  return b;
}

export function toNodeJson(row: NodeRow): NodeJson {
  const skills = JSON.parse(row.skills) as Skill[];
  const labels = JSON.parse(row.labels) as Record<string, string>;
  return {
    node_id: row.node_id,
    hostname: row.hostname,
    platform: row.platform,
    arch: row.arch,
    status: row.status,
    health: row.health,
    available_skills: skills.map((s) => s.name),
    skills,
    max_concurrent_tasks: row.max_concurrent_tasks,
    running_tasks: row.running_tasks,
    ip_address: row.ip_address,
    tailscale_ip: row.tailscale_ip,
    port: row.port,
    cpu_usage: row.cpu_usage,
    memory_usage: row.memory_usage,
    disk_usage: row.disk_usage,
    total_tasks_processed: row.total_tasks_processed,
    successful_tasks: row.successful_tasks,
    failed_tasks: row.failed_tasks,
    average_execution_time: row.average_execution_time,
    registered_at: row.registered_at,
    last_heartbeat: row.last_heartbeat,
    tags: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    labels,
    zone: row.zone,
    agent_version: row.agent_version,
    left_at: row.left_at,
    draining: row.drain !== null,
    drain: drainOf(row),
    circuit_breaker: breakerOf(row),
  };
}

export function toNodeHealthJson(row: NodeRow, now: Date): NodeHealthJson {
  const last = row.last_heartbeat === null ? null : Date.parse(row.last_heartbeat);
  return {
    node_id: row.node_id,
    status: row.status,
    health: row.health,
    healthy:
      row.status !== "offline" && row.status !== "error" && (row.health === null || row.health === "online"),
    reason: row.health_reason,
    last_heartbeat: row.last_heartbeat,
    seconds_since_heartbeat:
      last === null ? null : Math.max(0, Math.round((now.getTime() - last) / 100) / 10),
    missed_heartbeats: row.missed_heartbeats,
    cpu_usage: row.cpu_usage,
    memory_usage: row.memory_usage,
    disk_usage: row.disk_usage,
    running_tasks: row.running_tasks,
    max_concurrent_tasks: row.max_concurrent_tasks,
    available_capacity: Math.max(0, row.max_concurrent_tasks - row.running_tasks),
    draining: row.drain !== null,
    circuit_breaker: breakerOf(row),
    checked_at: now.toISOString(),
  };
}

export function toEventJson(row: EventRow): NodeEventJson {
  const data = JSON.parse(row.data) as Record<string, unknown>;
  return { seq: row.seq, node_id: row.node_id, kind: row.kind, at: row.at, ...data };
}

/** Capacity counts only nodes that can take work (online or busy). */
export function toClusterHealth(totals: readonly StatusTotals[], now: Date): ClusterHealthJson {
  const byStatus = Object.fromEntries(NODE_STATUSES.map((s) => [s, 0])) as Record<NodeStatus, number>;
  let total = 0;
  let timedOut = 0;
  let capacity = 0;
  let used = 0;
  for (const t of totals) {
    byStatus[t.status] = t.count;
    total += t.count;
    timedOut += t.timed_out;
    if (UP_STATUSES.includes(t.status)) {
      capacity += t.capacity;
      used += t.used;
    }
  }
  const at = now.toISOString();
  return {
    checked_at: at,
    timestamp: at,
    total_nodes: total,
    nodes_by_status: byStatus,
    online_nodes: byStatus.online + byStatus.busy,
    offline_nodes: byStatus.offline,
    busy_nodes: byStatus.busy,
    timeout_nodes_count: timedOut,
    total_capacity: capacity,
    used_capacity: used,
    available_capacity: capacity - used,
    capacity_utilization: capacity === 0 ? 0 : Math.round((used / capacity) * 1000) / 10,
  };
}

/** The queue from its counts: totals, waiting tasks by priority, and live tasks by skill. */
export function toQueue(
  byPriority: readonly QueueCount[],
  bySkill: readonly QueueCount[],
  now: Date,
): QueueJson {
  const out: QueueJson = {
    checked_at: now.toISOString(),
    pending: 0,
    scheduled: 0,
    running: 0,
    pending_by_priority: { critical: 0, high: 0, normal: 0, low: 0 },
    by_skill: [],
  };
  for (const c of byPriority) {
    out[c.status] += c.count;
    if (c.status === "pending" && c.key in out.pending_by_priority)
      out.pending_by_priority[c.key as keyof QueueJson["pending_by_priority"]] += c.count;
  }
  const skills = new Map<string, QueueJson["by_skill"][number]>();
  for (const c of bySkill) {
    let row = skills.get(c.key);
    if (!row) {
      row = { skill: c.key, pending: 0, scheduled: 0, running: 0 };
      skills.set(c.key, row);
    }
    row[c.status] += c.count;
  }
  out.by_skill = [...skills.values()].sort(
    (a, b) => b.pending - a.pending || b.running - a.running || a.skill.localeCompare(b.skill),
  );
  return out;
}
