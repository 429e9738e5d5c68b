import type Database from "better-sqlite3";

/** Live tasks (not yet ended) counted by status and one more column. */
export interface QueueCount {
  status: "pending" | "scheduled" | "running";
  key: string;
  count: number;
}

const LIVE = "status IN ('pending', 'scheduled', 'running')";

/**
 * The queue as the read model sees it: live tasks by status and priority, and by status and
 * required skill. Both are index scans over the live tasks only (`tasks_status`), however many
 * ended tasks the store keeps.
 */
export class QueueCounts {
  readonly #byPriority: Database.Statement<[], QueueCount>;
  readonly #bySkill: Database.Statement<[], QueueCount>;
  readonly #byStatus: Database.Statement<[], { status: string; count: number }>;

  constructor(db: Database.Database) {
    this.#byPriority = db.prepare(
      `SELECT status, priority AS key, COUNT(*) AS count FROM tasks WHERE ${LIVE} GROUP BY status, priority`,
    );
    this.#bySkill = db.prepare(`
      SELECT t.status AS status, s.skill AS key, COUNT(*) AS count
      FROM tasks t JOIN task_skills s ON s.task_id = t.task_id
      WHERE t.${LIVE} GROUP BY t.status, s.skill
    `);
    this.#byStatus = db.prepare("SELECT status, COUNT(*) AS count FROM tasks GROUP BY status");
  }

  byPriority(): QueueCount[] {
    return this.#byPriority.all();
  }

  bySkill(): QueueCount[] {
    return this.#bySkill.all();
  }

  /** Every task the store keeps, ended ones included, by status. */
  byStatus(): { status: string; count: number }[] {
    return this.#byStatus.all();
  }
}
