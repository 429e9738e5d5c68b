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
