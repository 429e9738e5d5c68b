import type Sqlite from "better-sqlite3";

export interface Migration {
  /** 1, 2, 3, ... in order; never renumber or edit one that has shipped, add a new one. */
  version: number;
  name: string;
  sql: string;
}

/** The read model's schema, one numbered step at a time. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "nodes",
    sql: `
      CREATE TABLE nodes (
        node_id                TEXT PRIMARY KEY,
        session                TEXT NOT NULL,
        hostname               TEXT NOT NULL,
        platform               TEXT NOT NULL,
        arch                   TEXT NOT NULL,
        ip_address             TEXT,
        tailscale_ip           TEXT,
        port                   INTEGER NOT NULL,
        max_concurrent_tasks   INTEGER NOT NULL,
        heartbeat_interval_ms  INTEGER NOT NULL,
        labels                 TEXT NOT NULL,   -- JSON object
        zone                   TEXT,
        skills                 TEXT NOT NULL,   -- JSON array of {name, version, description}
        agent_version          TEXT NOT NULL,
        started_at             TEXT NOT NULL,
        state                  TEXT NOT NULL CHECK (state IN ('active', 'left')),
        health                 TEXT CHECK (health IN ('online', 'suspect', 'offline')),
        health_reason          TEXT,
        health_since           TEXT,
        health_checked_at      TEXT,
        missed_heartbeats      INTEGER NOT NULL DEFAULT 0,
        cpu_usage              REAL NOT NULL,
        memory_usage           REAL NOT NULL,
        disk_usage             REAL NOT NULL,
        running_tasks          INTEGER NOT NULL,
        total_tasks_processed  INTEGER NOT NULL,
        successful_tasks       INTEGER NOT NULL,
        failed_tasks           INTEGER NOT NULL,
        average_execution_time REAL NOT NULL,
        registered_at          TEXT NOT NULL,
        last_heartbeat         TEXT,
        left_at                TEXT,
        status                 TEXT NOT NULL
          CHECK (status IN ('online', 'offline', 'busy', 'maintenance', 'error'))
      );
      CREATE INDEX nodes_status ON nodes (status);

      CREATE TABLE node_skills (
        node_id TEXT NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
        skill   TEXT NOT NULL,
        version TEXT,
        PRIMARY KEY (node_id, skill)
      );
      CREATE INDEX node_skills_skill ON node_skills (skill);

      -- seq is the EVENTS stream sequence, so a replayed event cannot be stored twice.
      CREATE TABLE node_events (
        seq     INTEGER PRIMARY KEY,
        node_id TEXT NOT NULL,
        kind    TEXT NOT NULL,
        at      TEXT NOT NULL,
        data    TEXT NOT NULL   -- JSON object: the event's own fields
      );
      CREATE INDEX node_events_node ON node_events (node_id, seq);

      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "tasks",
    sql: `
      -- One row per task: seed 004's task fields plus the scheduler's record. The scheduler's
      -- events carry the whole record, so a row is the last snapshot seen (updated_seq).
      CREATE TABLE tasks (
        task_id          TEXT PRIMARY KEY,
        task_type        TEXT NOT NULL,
        name             TEXT NOT NULL,
        description      TEXT NOT NULL,
        required_skills  TEXT NOT NULL,   -- JSON array
        optional_skills  TEXT NOT NULL,   -- JSON array
        status           TEXT NOT NULL CHECK (status IN
          ('pending', 'scheduled', 'running', 'completed', 'failed', 'cancelled', 'timeout')),
        priority         TEXT NOT NULL CHECK (priority IN ('critical', 'high', 'normal', 'low')),
        assigned_node    TEXT,
        submitted_at     TEXT NOT NULL,   -- always toISOString() form, so text order is time order
        scheduled_at     TEXT,
        started_at       TEXT,
        completed_at     TEXT,
        payload          TEXT,            -- JSON (seed 004 "parameters"); NULL when never seen
        timeout_ms       INTEGER NOT NULL,
        retry_count      INTEGER NOT NULL,
        max_retries      INTEGER NOT NULL,
        retry_policy     TEXT NOT NULL,   -- JSON RetryPolicy
        user_id          TEXT,
        affinity_tags    TEXT NOT NULL,   -- JSON array
        result           TEXT,            -- JSON; NULL until completed
        error            TEXT,            -- JSON TaskError
        metadata         TEXT NOT NULL,   -- JSON object
        attempt          INTEGER NOT NULL,
        attempts         TEXT NOT NULL,   -- JSON array of AttemptRecord
        progress         TEXT,            -- JSON { percent, message }
        waiting_reason   TEXT,
        next_attempt_at  TEXT,
        constraints      TEXT NOT NULL,   -- JSON TaskConstraints
        affinity_key     TEXT,
        idempotency_key  TEXT,
        strategy         TEXT,
        checkpoint       INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        -- EVENTS stream sequence of the snapshot the row holds; 0 for a row the API wrote.
        updated_seq      INTEGER NOT NULL DEFAULT 0,
        updated_at       TEXT NOT NULL
      );
      CREATE INDEX tasks_submitted ON tasks (submitted_at, task_id);
      CREATE INDEX tasks_status ON tasks (status, submitted_at, task_id);
      CREATE INDEX tasks_node ON tasks (assigned_node, submitted_at, task_id);
      CREATE INDEX tasks_idempotency ON tasks (idempotency_key) WHERE idempotency_key IS NOT NULL;

      -- The skill filter of the task list (required skills), in list order.
      CREATE TABLE task_skills (
        task_id      TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
        skill        TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        PRIMARY KEY (task_id, skill)
      );
      CREATE INDEX task_skills_skill ON task_skills (skill, submitted_at, task_id);

      -- seq is the EVENTS stream sequence; event_id the envelope id (live events are matched by it).
      CREATE TABLE task_events (
        seq      INTEGER PRIMARY KEY,
        task_id  TEXT NOT NULL,
        kind     TEXT NOT NULL,
        at       TEXT NOT NULL,
        event_id TEXT NOT NULL,
        data     TEXT NOT NULL   -- JSON object: the event's own fields
      );
      CREATE INDEX task_events_task ON task_events (task_id, seq);

      -- Per-node counters over ended attempts, kept apart from the node row so an attempt that
      -- ends before the node's row exists still counts; copied onto the row on every change.
      CREATE TABLE node_task_stats (
        node_id               TEXT PRIMARY KEY,
        total_tasks_processed INTEGER NOT NULL,
        successful_tasks      INTEGER NOT NULL,
        failed_tasks          INTEGER NOT NULL,
        completed_seconds     REAL NOT NULL,
        completed_count       INTEGER NOT NULL
      );
      -- The counters now come from task attempts, no longer from heartbeats.
      UPDATE nodes SET total_tasks_processed = 0, successful_tasks = 0, failed_tasks = 0,
        average_execution_time = 0;
      -- The cursor so far followed node events only and went past task events: read the stream
      -- again from its start (node events are keyed by seq, so none is stored twice).
      UPDATE meta SET value = '0' WHERE key = 'events_cursor';
    `,
  },
  {
    version: 3,
    name: "drain and circuit breakers",
    sql: `
      -- JSON {since, reason, session} while the node is drained (from its KV record).
      ALTER TABLE nodes ADD COLUMN drain TEXT;
      -- The scheduler's breaker of the node, JSON, copied from node_breakers.
      ALTER TABLE nodes ADD COLUMN breaker TEXT;
      -- Breakers by node, from the scheduler bucket; kept apart so one that arrives before its
      -- node's row is not lost.
      CREATE TABLE node_breakers (
        node_id TEXT PRIMARY KEY,
        state   TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
        data    TEXT NOT NULL
      );
    `,
  },
];

/**
 * Applies every migration newer than the database, each in its own transaction, and records it
 * in `schema_migrations`. Returns the versions it applied (empty when the schema was current).
 */
export function applyMigrations(
  db: Sqlite.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): number[] {
  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )
  `);
  const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as {
    v: number;
  };
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= row.v) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}
