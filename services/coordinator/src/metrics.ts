import { counter, gauge, histogram, METRICS_CONTENT_TYPE, metricsText } from "@openclaw/metrics";
import type { TaskEvent } from "@openclaw/protocol";
import type { NodeStore, StreamEvent } from "./db/node-store.js";

/** The cluster as the coordinator's read model sees it: set from the store at every scrape. */
const tasks = gauge("openclaw_tasks", "Tasks the read model keeps, by status", ["status"]);
const liveTasks = gauge("openclaw_tasks_live", "Tasks not ended yet, by status and required skill", [
  "status",
  "skill",
]);
const queueDepth = gauge("openclaw_queue_depth", "Tasks waiting for a node, by priority (the backlog)", [
  "priority",
]);
const nodes = gauge("openclaw_nodes", "Nodes by status (offline includes nodes that left)", ["status"]);
const timedOut = gauge(
  "openclaw_nodes_timed_out",
  "Nodes declared offline by the health monitor that did not leave: dead or cut off",
);
const capacity = gauge("openclaw_capacity_slots", "Task slots of the nodes that are up: total and used", [
  "state",
]);
const heartbeatAge = gauge(
  "openclaw_node_heartbeat_age_seconds",
  "Seconds since each active node's last heartbeat",
  ["node"],
);
const resource = gauge(
  "openclaw_node_resource_usage_percent",
  "Each active node's cpu, memory and disk use",
  ["node", "resource"],
);

/** What happened, from the task and cluster events the coordinator reads. */
const submitted = counter("openclaw_tasks_submitted_total", "Tasks submitted", ["skill"]);
const finished = counter("openclaw_tasks_finished_total", "Tasks that ended, by how and skill", [
  "status",
  "skill",
]);
const retries = counter("openclaw_task_retries_total", "Attempts that failed and were retried", ["skill"]);
const deadLetters = counter(
  "openclaw_dead_letters_total",
  "Tasks that failed or timed out for good (no attempt left, or not retryable)",
  ["skill"],
);
const placements = counter("openclaw_placements_total", "Attempts placed on a node");
const placementFailures = counter(
  "openclaw_placement_failures_total",
  "Placement rounds that left a task waiting, by reason",
  ["reason"],
);
const schedulingLatency = histogram(
  "openclaw_scheduling_latency_seconds",
  "From a task's submission to its first placement",
);
const taskDuration = histogram(
  "openclaw_task_duration_seconds",
  "From an attempt's start to its task's end",
  ["skill", "status"],
);
const leaderChanges = counter("openclaw_leader_changes_total", "Leader elections, by role", ["role"]);
const httpDuration = histogram("openclaw_http_request_duration_seconds", "HTTP API requests", [
  "method",
  "route",
  "status_code",
]);

/** Distinct skill label values at most: skills come from clients, and each is a series forever. */
const MAX_SKILL_LABELS = 200;
const skillLabels = new Set<string>();
/** A task's skill as a label; past `MAX_SKILL_LABELS` distinct ones, new skills count as `other`. */
function skillLabel(skill: string | undefined): string {
  if (!skill) return "unknown";
  if (skillLabels.has(skill)) return skill;
  if (skillLabels.size >= MAX_SKILL_LABELS) return "other";
  skillLabels.add(skill);
  return skill;
}

/** A waiting reason as a label: its kind, not its text (which names skills and nodes). */
export function reasonKind(reason: string | null | undefined): string {
  if (!reason) return "unknown";
  if (/^no online node has /.test(reason)) return "no_node_with_skill";
  if (/ are offline$/.test(reason)) return "nodes_offline";
  if (/can take work \(/.test(reason)) return "nodes_unavailable";
  if (/ matches /.test(reason)) return "constraints_unmet";
  if (/ (is|are) full/.test(reason)) return "at_capacity";
  return "other";
}

const seconds = (from: string | null, to: string | null) =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : undefined;

function observeTask(e: TaskEvent): void {
  if (!("task" in e)) return; // progress, checkpointed: nothing to count
  const t = e.task;
  const skill = skillLabel(t.spec.required_skills[0]);
  switch (e.kind) {
    case "submitted":
      submitted.inc({ skill });
      break;
    case "waiting":
      placementFailures.inc({ reason: reasonKind(t.waiting_reason) });
      break;
    case "scheduled": {
      placements.inc();
      const latency = t.attempt === 1 ? seconds(t.submitted_at, t.scheduled_at) : undefined;
      if (latency !== undefined) schedulingLatency.observe(latency);
      break;
    }
    case "retrying":
      if (t.error) retries.inc({ skill });
      break;
    case "completed":
    case "failed":
    case "cancelled":
    case "timeout": {
      finished.inc({ status: e.kind, skill });
      if (e.kind === "failed" || e.kind === "timeout") deadLetters.inc({ skill });
      const ran = seconds(t.started_at, t.completed_at);
      if (ran !== undefined) taskDuration.observe({ skill, status: e.kind }, ran);
      break;
    }
  }
}

/**
 * The coordinator's metrics: counters and histograms fed by the events it projects (from the
 * moment it starts: history replayed from an older cursor is not counted again), gauges read
 * from its read model when scraped.
 */
export class CoordinatorMetrics {
  readonly #store: NodeStore;
  readonly #since: number;

  /** @param since events older than this (ms) are history, not news */
  constructor(store: NodeStore, since = Date.now() - 60_000) {
    this.#store = store;
    this.#since = since;
  }

  /** Counts the events of one projected batch. */
  observe(events: readonly StreamEvent[]): void {
    for (const e of events) {
      if (e.scope === "skip" || e.scope === "node") continue;
      if (Date.parse(e.event.ts) < this.#since) continue;
      if (e.scope === "cluster") leaderChanges.inc({ role: e.event.role });
      else observeTask(e.event);
    }
  }

  observeHttp(method: string, route: string, statusCode: number, secondsTaken: number): void {
    httpDuration.observe({ method, route, status_code: String(statusCode) }, secondsTaken);
  }

  /** Every metric of this process, the read model's gauges read now. */
  async text(): Promise<{ contentType: string; body: string }> {
    this.#refresh(Date.now());
    return { contentType: METRICS_CONTENT_TYPE, body: await metricsText() };
  }

  #refresh(now: number): void {
    const store = this.#store;
    tasks.reset();
    for (const r of store.queue.byStatus()) tasks.set({ status: r.status }, r.count);
    liveTasks.reset();
    for (const r of store.queue.bySkill()) liveTasks.set({ status: r.status, skill: r.key }, r.count);
    for (const p of ["critical", "high", "normal", "low"]) queueDepth.set({ priority: p }, 0);
    for (const r of store.queue.byPriority())
      if (r.status === "pending") queueDepth.set({ priority: r.key }, r.count);
    nodes.reset();
    let total = 0;
    let used = 0;
    let lost = 0;
    for (const t of store.statusTotals()) {
      nodes.set({ status: t.status }, t.count);
      lost += t.timed_out;
      if (t.status === "online" || t.status === "busy") {
        total += t.capacity;
        used += t.used;
      }
    }
    timedOut.set(lost);
    capacity.set({ state: "total" }, total);
    capacity.set({ state: "used" }, used);
    heartbeatAge.reset();
    resource.reset();
    for (const n of store.listNodes()) {
      if (n.state !== "active") continue;
      if (n.last_heartbeat)
        heartbeatAge.set({ node: n.node_id }, Math.max(0, (now - Date.parse(n.last_heartbeat)) / 1000));
      resource.set({ node: n.node_id, resource: "cpu" }, n.cpu_usage);
      resource.set({ node: n.node_id, resource: "memory" }, n.memory_usage);
      resource.set({ node: n.node_id, resource: "disk" }, n.disk_usage);
    }
  }
}
