import type { AttemptRecord, TaskEvent, TaskSnapshot, TaskSpec, TaskStatus } from "@openclaw/protocol";
import type Database from "better-sqlite3";
import type { TaskEventRow, TaskListRow, TaskRow } from "./rows.js";

type S<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/** Envelope fields stay out of the stored event data (the id is a column of its own). */
const ENVELOPE_KEYS = new Set(["v", "id", "ts", "sender", "trace_id", "task_id", "kind"]);

/**
 * Kept once, in the task's row, instead of twice: `submitted` events carry the payload and
 * `completed` events the result, which may be large. Reading events puts them back.
 */
const ROW_KEYS: Partial<Record<TaskEvent["kind"], "payload" | "result">> = {
  submitted: "payload",
  completed: "result",
};

/** How an ended attempt counts on its node. */
const ENDED: Partial<Record<AttemptRecord["status"], "ok" | "failed">> = {
  completed: "ok",
  failed: "failed",
  timeout: "failed",
};

const ALL_COLUMNS = [
  "task_id",
  "task_type",
  "name",
  "description",
  "required_skills",
  "optional_skills",
  "status",
  "priority",
  "assigned_node",
  "submitted_at",
  "scheduled_at",
  "started_at",
  "completed_at",
  "payload",
  "timeout_ms",
  "retry_count",
  "max_retries",
  "retry_policy",
  "user_id",
  "affinity_tags",
  "result",
  "error",
  "metadata",
  "attempt",
  "attempts",
  "progress",
  "waiting_reason",
  "next_attempt_at",
  "constraints",
  "affinity_key",
  "idempotency_key",
  "strategy",
  "checkpoint",
  "cancel_requested",
  "updated_seq",
  "updated_at",
] as const satisfies readonly (keyof TaskRow)[];

/** Columns a snapshot overwrites; payload, result and progress have rules of their own. */
const SNAPSHOT_COLUMNS = ALL_COLUMNS.filter(
  (c) => c !== "task_id" && c !== "payload" && c !== "result" && c !== "progress",
);

const LIST_COLUMNS = ALL_COLUMNS.filter((c) => c !== "payload" && c !== "result");

/** What changes in a task after it is submitted: its spec does not (the spec columns stay as first written). */
const STATE_COLUMNS = [
  "status",
  "assigned_node",
  "submitted_at",
  "scheduled_at",
  "started_at",
  "completed_at",
  "retry_count",
  "error",
  "attempt",
  "attempts",
  "waiting_reason",
  "next_attempt_at",
  "cancel_requested",
  "updated_seq",
  "updated_at",
] as const satisfies readonly (typeof SNAPSHOT_COLUMNS)[number][];

type StateRow = Pick<TaskRow, (typeof STATE_COLUMNS)[number] | "task_id" | "payload" | "result" | "progress">;

const INSERT_VALUES = `(${ALL_COLUMNS.join(", ")}) VALUES (${ALL_COLUMNS.map((c) => `@${c}`).join(", ")})`;

const UPSERT_SNAPSHOT = `
  INSERT INTO tasks ${INSERT_VALUES}
  ON CONFLICT (task_id) DO UPDATE SET
    ${SNAPSHOT_COLUMNS.map((c) => `${c} = excluded.${c}`).join(",\n    ")},
    payload = COALESCE(excluded.payload, tasks.payload),
    result = COALESCE(excluded.result, tasks.result),
    -- Progress comes from workers; a snapshot without any keeps the current attempt's.
    progress = CASE WHEN excluded.progress IS NULL AND excluded.attempt = tasks.attempt
      THEN tasks.progress ELSE excluded.progress END
`;

/** A later snapshot of a task whose row a snapshot wrote before: its state only, on the same rules. */
const UPDATE_STATE = `
  UPDATE tasks SET
    ${STATE_COLUMNS.map((c) => `${c} = @${c}`).join(",\n    ")},
    payload = COALESCE(@payload, payload),
    result = COALESCE(@result, result),
    progress = CASE WHEN @progress IS NULL AND @attempt = attempt THEN progress ELSE @progress END
  WHERE task_id = @task_id
`;

type Basics = Pick<TaskRow, "updated_seq" | "attempt" | "attempts" | "submitted_at">;

/** A task's latest snapshot in a batch of events, not yet written to its row. */
interface PendingSnapshot {
  seq: number;
  event: Extract<TaskEvent, { task: unknown }>;
  payload: string | null;
  result: string | null;
}

/** What a long poll answers. */
export type TaskOutcomeRow = Pick<TaskRow, "task_id" | "status" | "result" | "error" | "updated_seq">;

export interface TaskFilter {
  /** Any of these statuses. */
  statuses?: readonly TaskStatus[];
  /** Tasks that require this skill. */
  skill?: string;
  /** Tasks assigned to this node. */
  node?: string;
  /** Submitted at or after (toISOString form). */
  since?: string;
  /** Submitted before (toISOString form). */
  until?: string;
  /** The last task of the previous page: the list continues after it (newest first). */
  after?: { submitted_at: string; task_id: string };
  limit: number;
}

/** Called after a commit with the ids of the tasks whose row or history changed. */
export type TaskChangeListener = (taskIds: ReadonlySet<string>) => void;

/** `toISOString()` form, so that text order is time order whatever precision the writer used. */
export function canonicalTime(iso: string): string;
export function canonicalTime(iso: string | null): string | null;
export function canonicalTime(iso: string | null): string | null {
  if (iso === null) return null;
  // Most are in that form already (the scheduler writes them so): no need to parse them.
  return CANONICAL_TIME.test(iso) ? iso : new Date(iso).toISOString();
}

const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function attemptKey(a: AttemptRecord): string {
  return `${a.attempt}|${a.node_id}|${a.scheduled_at}`;
}

function specColumns(spec: Omit<TaskSpec, "payload">) {
  return {
    task_id: spec.task_id,
    task_type: spec.task_type,
    name: spec.name,
    description: spec.description,
    required_skills: JSON.stringify(spec.required_skills),
    optional_skills: JSON.stringify(spec.optional_skills),
    priority: spec.priority,
    timeout_ms: spec.timeout_ms,
    max_retries: spec.retry.max_attempts - 1,
    retry_policy: JSON.stringify(spec.retry),
    user_id: spec.user_id,
    affinity_tags: JSON.stringify(spec.affinity_key === null ? [] : [spec.affinity_key]),
    metadata: JSON.stringify(spec.metadata),
    constraints: JSON.stringify(spec.constraints),
    affinity_key: spec.affinity_key,
    idempotency_key: spec.idempotency_key,
    strategy: spec.strategy,
    checkpoint: spec.checkpoint ? (1 as const) : (0 as const),
  };
}

function snapshotRow(
  t: TaskSnapshot,
  seq: number,
  at: string,
  payload: string | null,
  result: string | null,
): TaskRow {
  return { ...specColumns(t.spec), ...stateRow(t, seq, at, payload, result) };
}

function stateRow(
  t: TaskSnapshot,
  seq: number,
  at: string,
  payload: string | null,
  result: string | null,
): StateRow {
  return {
    task_id: t.spec.task_id,
    status: t.status,
    assigned_node: t.assigned_node,
    submitted_at: canonicalTime(t.submitted_at),
    scheduled_at: canonicalTime(t.scheduled_at),
    started_at: canonicalTime(t.started_at),
    completed_at: canonicalTime(t.completed_at),
    payload,
    retry_count: Math.max(0, t.attempt - 1),
    result,
    error: t.error === null ? null : JSON.stringify(t.error),
    attempt: t.attempt,
    attempts: JSON.stringify(t.attempts),
    progress: t.progress === null ? null : JSON.stringify(t.progress),
    waiting_reason: t.waiting_reason,
    next_attempt_at: canonicalTime(t.next_attempt_at),
    cancel_requested: t.cancel_requested ? 1 : 0,
    updated_seq: seq,
    updated_at: at,
  };
}

/** JSON text of a value that may be absent (`undefined` is stored as JSON null). */
function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/**
 * Tasks and their event history in the read model. Rows follow the scheduler's snapshots
 * (`applyEvents`, inside the caller's transaction, so the EVENTS cursor moves with them); the
 * API adds a `pending` row at submission so a task is visible the moment it is accepted.
 */
export class TaskStore {
  readonly #db: Database.Database;
  readonly #q;
  readonly #listStatements = new Map<string, S<[Record<string, unknown>], TaskListRow>>();
  readonly #listeners = new Set<TaskChangeListener>();
  readonly #insertSubmitted: (spec: TaskSpec, submittedAt: string) => boolean;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#q = {
      basics: db.prepare<[string], Basics>(
        "SELECT updated_seq, attempt, attempts, submitted_at FROM tasks WHERE task_id = ?",
      ),
      upsertSnapshot: db.prepare<[TaskRow]>(UPSERT_SNAPSHOT),
      updateState: db.prepare<[StateRow]>(UPDATE_STATE),
      insertIfAbsent: db.prepare<[TaskRow]>(`INSERT OR IGNORE INTO tasks ${INSERT_VALUES}`),
      insertSkill: db.prepare<[string, string, string]>(
        "INSERT OR IGNORE INTO task_skills (task_id, skill, submitted_at) VALUES (?, ?, ?)",
      ),
      moveSkills: db.prepare<[string, string]>("UPDATE task_skills SET submitted_at = ? WHERE task_id = ?"),
      setProgress: db.prepare<[string, string, string, number]>(
        "UPDATE tasks SET progress = ?, updated_at = ? WHERE task_id = ? AND attempt = ?",
      ),
      insertEvent: db.prepare<[number, string, string, string, string, string]>(
        "INSERT OR IGNORE INTO task_events (seq, task_id, kind, at, event_id, data) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      countAttempt: db.prepare<[{ node_id: string; ok: number; failed: number; seconds: number }]>(`
        INSERT INTO node_task_stats (node_id, total_tasks_processed, successful_tasks, failed_tasks,
          completed_seconds, completed_count)
        VALUES (@node_id, 1, @ok, @failed, @seconds, @ok)
        ON CONFLICT (node_id) DO UPDATE SET
          total_tasks_processed = total_tasks_processed + 1,
          successful_tasks = successful_tasks + excluded.successful_tasks,
          failed_tasks = failed_tasks + excluded.failed_tasks,
          completed_seconds = completed_seconds + excluded.completed_seconds,
          completed_count = completed_count + excluded.completed_count
      `),
      copyCounters: db.prepare<[string]>(`
        UPDATE nodes SET
          total_tasks_processed = s.total_tasks_processed,
          successful_tasks = s.successful_tasks,
          failed_tasks = s.failed_tasks,
          average_execution_time = CASE WHEN s.completed_count > 0
            THEN ROUND(s.completed_seconds / s.completed_count, 3) ELSE 0 END
        FROM node_task_stats s WHERE s.node_id = nodes.node_id AND nodes.node_id = ?
      `),
      get: db.prepare<[string], TaskRow>("SELECT * FROM tasks WHERE task_id = ?"),
      outcome: db.prepare<[string], TaskOutcomeRow>(
        "SELECT task_id, status, result, error, updated_seq FROM tasks WHERE task_id = ?",
      ),
      byIdempotencyKey: db.prepare<[string], TaskRow>(
        "SELECT * FROM tasks WHERE idempotency_key = ? ORDER BY submitted_at, task_id LIMIT 1",
      ),
      pendingCount: db.prepare<[], number>("SELECT COUNT(*) FROM tasks WHERE status = 'pending'").pluck(),
      // Rows only this API wrote (no snapshot yet) with a key another task got: never tasks.
      dropUnmadeKeyed: db.prepare<[string, string]>(
        "DELETE FROM tasks WHERE idempotency_key = ? AND task_id != ? AND updated_seq = 0",
      ),
      eventsAfter: db.prepare<[string, number, number], TaskEventRow>(
        `SELECT seq, task_id, kind, at, event_id, data FROM task_events
         WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      seqOfEvent: db
        .prepare<[string, string], number>("SELECT seq FROM task_events WHERE task_id = ? AND event_id = ?")
        .pluck(),
      deleteEvents: db.prepare<[]>("DELETE FROM task_events"),
      forgetSeqs: db.prepare<[]>("UPDATE tasks SET updated_seq = 0"),
    };
    this.#insertSubmitted = db.transaction((spec: TaskSpec, submittedAt: string) => {
      const row: TaskRow = {
        ...specColumns(spec),
        status: "pending",
        assigned_node: null,
        submitted_at: canonicalTime(submittedAt),
        scheduled_at: null,
        started_at: null,
        completed_at: null,
        payload: json(spec.payload),
        retry_count: 0,
        result: null,
        error: null,
        attempt: 0,
        attempts: "[]",
        progress: null,
        waiting_reason: null,
        next_attempt_at: null,
        cancel_requested: 0,
        updated_seq: 0,
        updated_at: submittedAt,
      };
      if (this.#q.insertIfAbsent.run(row).changes === 0) return false;
      for (const skill of spec.required_skills)
        this.#q.insertSkill.run(spec.task_id, skill, row.submitted_at);
      return true;
    });
  }

  /**
   * Stores task events in stream order, each in its task's history, and applies them to the
   * tasks' rows. Call it inside a transaction (the one that advances the EVENTS cursor); the ids
   * of the tasks it touched are added to `changed`. A task with several snapshots in the
   * batch has its row written once, with the last (and the payload or result the earlier ones
   * brought): under load a task's whole life often arrives in one batch.
   */
  applyEvents(events: readonly { seq: number; event: TaskEvent }[], changed: Set<string>): void {
    const latest = new Map<string, PendingSnapshot>();
    const write = (taskId: string) => {
      const p = latest.get(taskId);
      if (!p) return;
      latest.delete(taskId);
      this.#applySnapshot(p);
    };
    for (const { seq, event: e } of events) {
      const data: Record<string, unknown> = {};
      const rowKey = ROW_KEYS[e.kind];
      for (const [k, v] of Object.entries(e)) if (!ENVELOPE_KEYS.has(k) && k !== rowKey) data[k] = v;
      this.#q.insertEvent.run(seq, e.task_id, e.kind, e.ts, e.id, JSON.stringify(data));
      changed.add(e.task_id);
      if (e.kind === "progress") {
        // Onto the row as it stands after the snapshots before it.
        write(e.task_id);
        const progress = JSON.stringify({ percent: e.percent, message: e.message });
        this.#q.setProgress.run(progress, e.ts, e.task_id, e.attempt);
        continue;
      }
      if (e.kind === "checkpointed") continue;
      const before = latest.get(e.task_id);
      latest.set(e.task_id, {
        seq,
        event: e,
        payload: e.kind === "submitted" ? json(e.payload) : (before?.payload ?? null),
        result: e.kind === "completed" ? json(e.result) : (before?.result ?? null),
      });
    }
    for (const taskId of [...latest.keys()]) write(taskId);
  }

  #applySnapshot({ seq, event: e, payload, result }: PendingSnapshot): void {
    const before = this.#q.basics.get(e.task_id);
    // Events of one task arrive in order; this only guards against a replay moving a row back.
    if (before && before.updated_seq >= seq) return;
    this.#countEndedAttempts(before?.attempts, e.task.attempts);
    if (before?.updated_seq) {
      // A snapshot wrote this row before: its spec columns are right already.
      const row = stateRow(e.task, seq, e.ts, payload, result);
      this.#q.updateState.run(row);
      if (before.submitted_at !== row.submitted_at) this.#q.moveSkills.run(row.submitted_at, e.task_id);
      return;
    }
    const row = snapshotRow(e.task, seq, e.ts, payload, result);
    this.#q.upsertSnapshot.run(row);
    // The scheduler made this task for its idempotency key: a submission with the key that this
    // coordinator stored a pending row for under another id (at the same time, or unanswered by
    // the scheduler) was dropped, and its row goes.
    const key = e.task.spec.idempotency_key;
    if (key !== null) this.#q.dropUnmadeKeyed.run(key, e.task_id);
    if (!before) {
      for (const skill of e.task.spec.required_skills)
        this.#q.insertSkill.run(e.task_id, skill, row.submitted_at);
    } else if (before.submitted_at !== row.submitted_at) {
      this.#q.moveSkills.run(row.submitted_at, e.task_id);
    }
  }

  /** Counts each attempt once, on its node, when a snapshot first shows it ended. */
  #countEndedAttempts(before: string | undefined, after: readonly AttemptRecord[]): void {
    if (!after.some((a) => ENDED[a.status])) return;
    const counted = new Set<string>();
    if (before !== undefined) {
      for (const a of JSON.parse(before) as AttemptRecord[]) if (ENDED[a.status]) counted.add(attemptKey(a));
    }
    for (const a of after) {
      const verdict = ENDED[a.status];
      if (!verdict || counted.has(attemptKey(a))) continue;
      counted.add(attemptKey(a));
      const from = Date.parse(a.started_at ?? a.scheduled_at);
      const seconds =
        verdict === "ok" && a.ended_at !== null ? Math.max(0, (Date.parse(a.ended_at) - from) / 1000) : 0;
      this.#q.countAttempt.run({
        node_id: a.node_id,
        ok: verdict === "ok" ? 1 : 0,
        failed: verdict === "failed" ? 1 : 0,
        seconds,
      });
      this.#q.copyCounters.run(a.node_id);
    }
  }

  /**
   * Adds the `pending` row of a task the API just handed to the scheduler, unless the task has
   * a row already (the scheduler's events may be faster). Returns whether it added one.
   */
  insertSubmitted(spec: TaskSpec, submittedAt: string): boolean {
    const added = this.#insertSubmitted(spec, submittedAt);
    if (added) this.notify(new Set([spec.task_id]));
    return added;
  }

  get(taskId: string): TaskRow | undefined {
    return this.#q.get.get(taskId);
  }

  outcome(taskId: string): TaskOutcomeRow | undefined {
    return this.#q.outcome.get(taskId);
  }

  /** The first task submitted with this idempotency key. */
  byIdempotencyKey(key: string): TaskRow | undefined {
    return this.#q.byIdempotencyKey.get(key);
  }

  pendingCount(): number {
    return this.#q.pendingCount.get() ?? 0;
  }

  /** Newest first (submitted_at, then task_id, both descending). */
  list(filter: TaskFilter): TaskListRow[] {
    const statuses = filter.statuses && filter.statuses.length > 0 ? filter.statuses : undefined;
    const shape = [
      filter.skill !== undefined ? "k" : "",
      statuses === undefined ? "" : statuses.length === 1 ? "s" : "S",
      filter.node !== undefined ? "n" : "",
      filter.since !== undefined ? "f" : "",
      filter.until !== undefined ? "u" : "",
      filter.after !== undefined ? "a" : "",
    ].join("");
    let stmt = this.#listStatements.get(shape);
    if (!stmt) {
      stmt = this.#db.prepare<[Record<string, unknown>], TaskListRow>(listSql(shape));
      this.#listStatements.set(shape, stmt);
    }
    const params: Record<string, unknown> = { limit: filter.limit };
    if (filter.skill !== undefined) params.skill = filter.skill;
    if (statuses?.length === 1) params.status = statuses[0];
    else if (statuses) params.statuses = JSON.stringify(statuses);
    if (filter.node !== undefined) params.node = filter.node;
    if (filter.since !== undefined) params.since = filter.since;
    if (filter.until !== undefined) params.until = filter.until;
    if (filter.after) {
      params.after_at = filter.after.submitted_at;
      params.after_id = filter.after.task_id;
    }
    return stmt.all(params);
  }

  /** A task's stored events after `afterSeq`, oldest first, with payload and result put back. */
  eventsAfter(taskId: string, afterSeq: number, limit = 1000): TaskEventRow[] {
    const rows = this.#q.eventsAfter.all(taskId, afterSeq, limit);
    if (!rows.some((r) => ROW_KEYS[r.kind])) return rows;
    const task = this.get(taskId);
    return rows.map((r) => {
      const key = ROW_KEYS[r.kind];
      if (!key) return r;
      const value = task?.[key] ?? "null";
      return { ...r, data: `${r.data.slice(0, -1)}${r.data.length > 2 ? "," : ""}"${key}":${value}}` };
    });
  }

  /** The stream sequence of a stored event, by its envelope id. */
  seqOfEvent(taskId: string, eventId: string): number | undefined {
    return this.#q.seqOfEvent.get(taskId, eventId);
  }

  /** Forgets the history and which snapshot each row holds (the EVENTS stream was recreated). */
  resetHistory(): void {
    this.#q.deleteEvents.run();
    this.#q.forgetSeqs.run();
  }

  /** Calls `listener` after every commit that changed tasks; returns the unsubscribe. */
  onChange(listener: TaskChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells the listeners; the store calls it after each commit. */
  notify(taskIds: ReadonlySet<string>): void {
    if (taskIds.size === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(taskIds);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

/** The list query of one filter shape (see `TaskStore.list`). */
function listSql(shape: string): string {
  const bySkill = shape.includes("k");
  const k = bySkill ? "s" : "t";
  const where: string[] = [];
  if (bySkill) where.push("s.skill = @skill");
  if (shape.includes("s")) where.push("t.status = @status");
  if (shape.includes("S")) where.push("t.status IN (SELECT value FROM json_each(@statuses))");
  if (shape.includes("n")) where.push("t.assigned_node = @node");
  if (shape.includes("f")) where.push(`${k}.submitted_at >= @since`);
  if (shape.includes("u")) where.push(`${k}.submitted_at < @until`);
  if (shape.includes("a")) where.push(`(${k}.submitted_at, ${k}.task_id) < (@after_at, @after_id)`);
  return `
    SELECT ${LIST_COLUMNS.map((c) => `t.${c}`).join(", ")}
    FROM ${bySkill ? "task_skills s JOIN tasks t ON t.task_id = s.task_id" : "tasks t"}
    ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY ${k}.submitted_at DESC, ${k}.task_id DESC
    LIMIT @limit
  `;
}
