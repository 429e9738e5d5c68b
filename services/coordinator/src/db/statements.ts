import type { BreakerState } from "@openclaw/protocol";
import type Database from "better-sqlite3";
import type { EventRow, NodeRow, StatusTotals } from "./rows.js";

/** The counters come from task attempts (`node_task_stats`), not from the node's record. */
type NodeCounters = "total_tasks_processed" | "successful_tasks" | "failed_tasks" | "average_execution_time";
type NodeWrite = Omit<
  NodeRow,
  | "health"
  | "health_reason"
  | "health_since"
  | "health_checked_at"
  | "missed_heartbeats"
  | "breaker"
  | NodeCounters
>;
type HealthWrite = Pick<
  NodeRow,
  | "node_id"
  | "health"
  | "health_reason"
  | "health_since"
  | "health_checked_at"
  | "missed_heartbeats"
  | "status"
>;
type NodeBasics = Pick<
  NodeRow,
  "session" | "state" | "health" | "running_tasks" | "max_concurrent_tasks" | "skills" | "drain"
> & { breaker_state: BreakerState | null };

const NODE_COLUMNS = [
  "node_id",
  "session",
  "hostname",
  "platform",
  "arch",
  "ip_address",
  "tailscale_ip",
  "port",
  "max_concurrent_tasks",
  "heartbeat_interval_ms",
  "labels",
  "zone",
  "skills",
  "agent_version",
  "started_at",
  "state",
  "cpu_usage",
  "memory_usage",
  "disk_usage",
  "running_tasks",
  "registered_at",
  "last_heartbeat",
  "left_at",
  "status",
  "drain",
] as const satisfies readonly (keyof NodeWrite)[];

/** A new row starts with the counters of attempts that ended before it existed. */
const COUNTERS_OF = (column: string) =>
  `COALESCE((SELECT ${column} FROM node_task_stats WHERE node_id = @node_id), 0)`;

const UPSERT_NODE = `
  INSERT INTO nodes (${NODE_COLUMNS.join(", ")}, breaker,
    total_tasks_processed, successful_tasks, failed_tasks, average_execution_time)
  VALUES (${NODE_COLUMNS.map((c) => `@${c}`).join(", ")},
    (SELECT data FROM node_breakers WHERE node_id = @node_id),
    ${COUNTERS_OF("total_tasks_processed")}, ${COUNTERS_OF("successful_tasks")},
    ${COUNTERS_OF("failed_tasks")},
    COALESCE((SELECT ROUND(completed_seconds / completed_count, 3) FROM node_task_stats
      WHERE node_id = @node_id AND completed_count > 0), 0))
  ON CONFLICT (node_id) DO UPDATE SET
    ${NODE_COLUMNS.filter((c) => c !== "node_id")
      .map((c) => `${c} = excluded.${c}`)
      .join(",\n    ")}
`;

/** JSON array parameter → set of statuses, so one prepared statement serves any filter. */
const STATUS_IN = "status IN (SELECT value FROM json_each(?))";

type S<P extends unknown[], R = unknown> = Database.Statement<P, R>;

export interface Statements {
  upsertNode: S<[NodeWrite]>;
  updateHealth: S<[HealthWrite]>;
  nodeBasics: S<[string], NodeBasics>;
  clearHealth: S<[string]>;
  deleteSkills: S<[string]>;
  insertSkill: S<[string, string, string | null]>;
  getNode: S<[string], NodeRow>;
  allNodes: S<[], NodeRow>;
  nodesByStatus: S<[string], NodeRow>;
  nodesBySkill: S<[string], NodeRow>;
  nodesBySkillAndStatus: S<[string, string], NodeRow>;
  statusTotals: S<[], StatusTotals>;
  insertEvent: S<[number, string, string, string, string]>;
  nodeEvents: S<[string, number], EventRow>;
  deleteEvents: S<[]>;
  getMeta: S<[string], string>;
  setMeta: S<[string, string]>;
  putBreaker: S<[string, string, string]>;
  breakerState: S<[string], BreakerState>;
  setNodeBreaker: S<[string, NodeRow["status"], string]>;
}

/** Every statement of the store, prepared once when it opens. */
export function prepareStatements(db: Database.Database): Statements {
  return {
    upsertNode: db.prepare<[NodeWrite]>(UPSERT_NODE),
    updateHealth: db.prepare<[HealthWrite]>(`
      UPDATE nodes SET health = @health, health_reason = @health_reason, health_since = @health_since,
        health_checked_at = @health_checked_at, missed_heartbeats = @missed_heartbeats, status = @status
      WHERE node_id = @node_id
    `),
    nodeBasics: db.prepare<[string], NodeBasics>(`
      SELECT session, state, health, running_tasks, max_concurrent_tasks, skills, drain,
        (SELECT state FROM node_breakers b WHERE b.node_id = nodes.node_id) AS breaker_state
      FROM nodes WHERE node_id = ?
    `),
    clearHealth: db.prepare<[string]>(
      `UPDATE nodes SET health = NULL, health_reason = NULL, health_since = NULL, health_checked_at = NULL,
        missed_heartbeats = 0 WHERE node_id = ?`,
    ),
    deleteSkills: db.prepare<[string]>("DELETE FROM node_skills WHERE node_id = ?"),
    insertSkill: db.prepare<[string, string, string | null]>(
      "INSERT OR REPLACE INTO node_skills (node_id, skill, version) VALUES (?, ?, ?)",
    ),
    getNode: db.prepare<[string], NodeRow>("SELECT * FROM nodes WHERE node_id = ?"),
    allNodes: db.prepare<[], NodeRow>("SELECT * FROM nodes ORDER BY node_id"),
    nodesByStatus: db.prepare<[string], NodeRow>(`SELECT * FROM nodes WHERE ${STATUS_IN} ORDER BY node_id`),
    nodesBySkill: db.prepare<[string], NodeRow>(`
      SELECT n.* FROM node_skills s JOIN nodes n ON n.node_id = s.node_id
      WHERE s.skill = ? ORDER BY n.node_id
    `),
    nodesBySkillAndStatus: db.prepare<[string, string], NodeRow>(`
      SELECT n.* FROM node_skills s JOIN nodes n ON n.node_id = s.node_id
      WHERE s.skill = ? AND n.${STATUS_IN} ORDER BY n.node_id
    `),
    statusTotals: db.prepare<[], StatusTotals>(`
      SELECT status,
        COUNT(*) AS count,
        COALESCE(SUM(max_concurrent_tasks), 0) AS capacity,
        COALESCE(SUM(MIN(running_tasks, max_concurrent_tasks)), 0) AS used,
        COALESCE(SUM(state = 'active' AND health = 'offline'), 0) AS timed_out
      FROM nodes GROUP BY status
    `),
    insertEvent: db.prepare<[number, string, string, string, string]>(
      "INSERT OR IGNORE INTO node_events (seq, node_id, kind, at, data) VALUES (?, ?, ?, ?, ?)",
    ),
    nodeEvents: db.prepare<[string, number], EventRow>(
      "SELECT seq, node_id, kind, at, data FROM node_events WHERE node_id = ? ORDER BY seq DESC LIMIT ?",
    ),
    deleteEvents: db.prepare<[]>("DELETE FROM node_events"),
    getMeta: db.prepare<[string], string>("SELECT value FROM meta WHERE key = ?").pluck(),
    setMeta: db.prepare<[string, string]>(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    putBreaker: db.prepare<[string, string, string]>(
      "INSERT OR REPLACE INTO node_breakers (node_id, state, data) VALUES (?, ?, ?)",
    ),
    breakerState: db
      .prepare<[string], BreakerState>("SELECT state FROM node_breakers WHERE node_id = ?")
      .pluck(),
    setNodeBreaker: db.prepare<[string, NodeRow["status"], string]>(
      "UPDATE nodes SET breaker = ?, status = ? WHERE node_id = ?",
    ),
  };
}
