import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  type BreakerRecord,
  type LeaderElected,
  type NodeEvent,
  type NodeHealthRecord,
  type NodeRecord,
  OcError,
  type TaskEvent,
} from "@openclaw/protocol";
import Database from "better-sqlite3";
import { deriveStatus, type NodeStatus } from "../status.js";
import { applyMigrations } from "./migrations.js";
import { QueueCounts } from "./queue-counts.js";
import type { EventRow, NodeRow, StatusTotals } from "./rows.js";
import { prepareStatements, type Statements } from "./statements.js";
import { TaskStore } from "./task-store.js";

const CURSOR_KEY = "events_cursor";
const STREAM_CREATED_KEY = "events_stream_created";
const ENVELOPE_KEYS = new Set(["v", "id", "ts", "sender", "trace_id", "node_id", "kind"]);

/** One message of the EVENTS stream, as the projection classified it. */
export type StreamEvent =
  | { seq: number; scope: "node"; event: NodeEvent }
  | { seq: number; scope: "task"; event: TaskEvent }
  /** Kept for the metrics only (leader changes); the cursor moves past it. */
  | { seq: number; scope: "cluster"; event: LeaderElected }
  /** Not stored (invalid, or of a scope the read model does not keep); the cursor moves past it. */
  | { seq: number; scope: "skip" };

/**
 * Opens (or creates) the read model at `path`, in WAL mode, with every migration applied. A file
 * that cannot be opened (a folder that cannot be made, no permission, not a database) is
 * OC-5001 naming the path.
 */
export function openStore(path: string): NodeStore {
  try {
    return openDatabase(path);
  } catch (err) {
    throw new OcError(
      "OC-5001",
      `cannot open the read model at ${path} (${(err as Error).message}); check storage.path (--db-path, OPENCLAW_DB_PATH): its folder must be writable, and the file a SQLite database or absent`,
      { cause: err },
    );
  }
}

function openDatabase(path: string): NodeStore {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { timeout: 5000 });
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    // With WAL, NORMAL never corrupts; a power cut may drop the last commits, cursor included.
    db.pragma("synchronous = NORMAL");
    applyMigrations(db);
    return new NodeStore(db);
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The coordinator's SQLite read model: the node table (current state, from KV), node and task
 * event history and the task table (from the EVENTS stream, with the stream cursor). Every
 * statement is prepared once.
 */
export class NodeStore {
  readonly #db: Database.Database;
  readonly #q: Statements;
  /** Tasks and their history (same database). */
  readonly tasks: TaskStore;
  /** Live tasks counted by priority and by skill (`GET /api/v1/cluster/queue`). */
  readonly queue: QueueCounts;
  readonly #applyBatch: (
    records: readonly NodeRecord[],
    health: readonly NodeHealthRecord[],
  ) => NodeHealthRecord[];
  readonly #recordEvents: (events: readonly StreamEvent[], changed: Set<string>) => void;
  readonly #changes: Database.Statement;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#q = prepareStatements(db);
    this.#changes = db.prepare("SELECT total_changes()").pluck();
    this.tasks = new TaskStore(db);
    this.queue = new QueueCounts(db);
    this.#applyBatch = db.transaction(
      (records: readonly NodeRecord[], health: readonly NodeHealthRecord[]) => {
        for (const r of records) this.#upsertNode(r);
        return health.filter((h) => !this.#updateHealth(h));
      },
    );
    this.#recordEvents = db.transaction((events: readonly StreamEvent[], changed: Set<string>) => {
      let last: number | undefined;
      const taskEvents: { seq: number; event: TaskEvent }[] = [];
      for (const e of events) {
        if (e.scope === "node") this.#insertNodeEvent(e.seq, e.event);
        else if (e.scope === "task") taskEvents.push({ seq: e.seq, event: e.event });
        last = e.seq;
      }
      this.tasks.applyEvents(taskEvents, changed);
      if (last !== undefined) this.#q.setMeta.run(CURSOR_KEY, String(last));
    });
  }

  #insertNodeEvent(seq: number, event: NodeEvent): void {
    const data: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(event)) if (!ENVELOPE_KEYS.has(k)) data[k] = v;
    this.#q.insertEvent.run(seq, event.node_id, event.kind, event.ts, JSON.stringify(data));
  }

  /**
   * Writes node records and health records in one transaction (records first). Returns the
   * health records whose node has no row yet, so the caller can apply them later.
   */
  applyBatch(records: readonly NodeRecord[], health: readonly NodeHealthRecord[] = []): NodeHealthRecord[] {
    return this.#applyBatch(records, health);
  }

  #upsertNode(r: NodeRecord): void {
    const n = r.node;
    const existing = this.#q.nodeBasics.get(n.node_id);
    const skills = JSON.stringify(
      n.skills.map((s) => ({ name: s.name, version: s.version, description: s.description })),
    );
    // Health belongs to a worker process: a new session (a restart) starts without any.
    const sameSession = existing?.session === n.session;
    const status = deriveStatus({
      state: r.state,
      health: sameSession ? (existing?.health ?? null) : null,
      running_tasks: r.load.running_tasks,
      max_concurrent_tasks: n.max_concurrent_tasks,
      drained: r.drain !== null,
      breaker: existing ? existing.breaker_state : (this.#q.breakerState.get(n.node_id) ?? null),
    });
    this.#q.upsertNode.run({
      node_id: n.node_id,
      session: n.session,
      hostname: n.hostname,
      platform: n.platform,
      arch: n.arch,
      ip_address: n.ip_address,
      tailscale_ip: n.tailscale_ip,
      port: n.port,
      max_concurrent_tasks: n.max_concurrent_tasks,
      heartbeat_interval_ms: n.heartbeat_interval_ms,
      labels: JSON.stringify(n.labels),
      zone: n.zone,
      skills,
      agent_version: n.agent_version,
      started_at: n.started_at,
      state: r.state,
      cpu_usage: r.load.cpu_usage,
      memory_usage: r.load.memory_usage,
      disk_usage: r.load.disk_usage,
      running_tasks: r.load.running_tasks,
      registered_at: r.registered_at,
      last_heartbeat: r.last_heartbeat,
      left_at: r.left_at,
      status,
      drain: r.drain === null ? null : JSON.stringify(r.drain),
    });
    if (existing && !sameSession) this.#q.clearHealth.run(n.node_id);
    // Heartbeats rewrite the row every second; the skill index only when the skills changed.
    if (existing?.skills !== skills) {
      this.#q.deleteSkills.run(n.node_id);
      for (const s of n.skills) this.#q.insertSkill.run(n.node_id, s.name, s.version);
    }
  }

  /** Returns false when the node has no row yet, or its row is of another session. */
  #updateHealth(h: NodeHealthRecord): boolean {
    const row = this.#q.nodeBasics.get(h.node_id);
    if (!row || row.session !== h.session) return false;
    const status = deriveStatus({
      ...row,
      health: h.status,
      drained: row.drain !== null,
      breaker: row.breaker_state,
    });
    this.#q.updateHealth.run({
      node_id: h.node_id,
      health: h.status,
      health_reason: h.reason,
      health_since: h.since,
      health_checked_at: h.checked_at,
      missed_heartbeats: h.missed_heartbeats,
      status,
    });
    return true;
  }

  /** The scheduler's breaker of a node (it may arrive before the node's row). */
  putBreaker(b: BreakerRecord): void {
    this.#db.transaction(() => {
      const data = JSON.stringify(b);
      this.#q.putBreaker.run(b.node_id, b.state, data);
      const row = this.#q.nodeBasics.get(b.node_id);
      if (!row) return;
      const status = deriveStatus({ ...row, drained: row.drain !== null, breaker: b.state });
      this.#q.setNodeBreaker.run(data, status, b.node_id);
    })();
  }

  getNode(id: string): NodeRow | undefined {
    return this.#q.getNode.get(id);
  }

  /** Every node, ordered by id; only those with one of `statuses` when given. */
  listNodes(statuses?: readonly NodeStatus[]): NodeRow[] {
    return statuses ? this.#q.nodesByStatus.all(JSON.stringify(statuses)) : this.#q.allNodes.all();
  }

  /** Nodes that announce `skill`, ordered by id; only those with one of `statuses` when given. */
  nodesWithSkill(skill: string, statuses?: readonly NodeStatus[]): NodeRow[] {
    return statuses
      ? this.#q.nodesBySkillAndStatus.all(skill, JSON.stringify(statuses))
      : this.#q.nodesBySkill.all(skill);
  }

  /** Counts and capacity per status (statuses without nodes are absent). */
  statusTotals(): StatusTotals[] {
    return this.#q.statusTotals.all();
  }

  /** Grows with every row this store changes: answers computed from it stay good while it holds. */
  version(): number {
    return this.#changes.get() as number;
  }

  /** The last EVENTS stream sequence stored (0 before the first). */
  eventCursor(): number {
    const value = this.#q.getMeta.get(CURSOR_KEY);
    return value === undefined ? 0 : Number(value);
  }

  /**
   * Stores one event and advances the cursor to `seq` in one transaction. Pass `undefined` for
   * a message that failed validation: the cursor moves past it and nothing is stored.
   */
  recordEvent(seq: number, event: NodeEvent | undefined): void {
    this.recordEvents([event ? { seq, scope: "node", event } : { seq, scope: "skip" }]);
  }

  /**
   * Stores events in stream order (task events also update their task's row) and advances the
   * cursor to the last one, all in one transaction; then tells the task listeners.
   */
  recordEvents(events: readonly StreamEvent[]): void {
    if (events.length === 0) return;
    const changed = new Set<string>();
    this.#recordEvents(events, changed);
    this.tasks.notify(changed);
  }

  /** When the EVENTS stream the history came from was created (tells a recreated stream apart). */
  eventStreamCreated(): string | undefined {
    return this.#q.getMeta.get(STREAM_CREATED_KEY);
  }

  setEventStreamCreated(created: string): void {
    this.#q.setMeta.run(STREAM_CREATED_KEY, created);
  }

  /**
   * Empties the whole read model (every table but the schema's own), as if the file were new:
   * everything in it came from one cluster, and it is about to follow another.
   */
  startOver(): void {
    const tables = this.#db
      .prepare<[], string>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'",
      )
      .pluck()
      .all();
    this.#db.transaction(() => {
      // Rows referencing each other go in one transaction; their checks run at its end.
      this.#db.pragma("defer_foreign_keys = ON");
      for (const t of tables) this.#db.prepare(`DELETE FROM "${t}"`).run();
    })();
  }

  /** Forgets the stored history and cursor (the EVENTS stream was recreated). */
  resetEventHistory(): void {
    this.#db.transaction(() => {
      this.#q.deleteEvents.run();
      this.tasks.resetHistory();
      this.#q.setMeta.run(CURSOR_KEY, "0");
    })();
  }

  /** A node's events, newest first. */
  nodeEvents(nodeId: string, limit: number): EventRow[] {
    return this.#q.nodeEvents.all(nodeId, limit);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
