import type { TaskEvent } from "@openclaw/protocol";
import type { FastifyReply } from "fastify";
import type { TaskEventRow, TaskListRow, TaskRow } from "../db/rows.js";
import type { TaskOutcomeRow } from "../db/task-store.js";
import type { TaskJson, TaskResultJson, TaskSummaryJson } from "./task-schemas.js";

const parse = <T>(text: string | null, fallback: T): T =>
  text === null ? fallback : (JSON.parse(text) as T);

export function toTaskSummaryJson(row: TaskListRow): TaskSummaryJson {
  return {
    task_id: row.task_id,
    task_type: row.task_type,
    name: row.name,
    description: row.description,
    required_skills: parse(row.required_skills, []),
    optional_skills: parse(row.optional_skills, []),
    status: row.status,
    priority: row.priority,
    assigned_node: row.assigned_node,
    submitted_at: row.submitted_at,
    scheduled_at: row.scheduled_at,
    started_at: row.started_at,
    completed_at: row.completed_at,
    timeout: row.timeout_ms / 1000,
    retry_count: row.retry_count,
    max_retries: row.max_retries,
    user_id: row.user_id,
    affinity_tags: parse(row.affinity_tags, []),
    error: parse(row.error, null),
    metadata: parse(row.metadata, {}),
    timeout_ms: row.timeout_ms,
    retry: JSON.parse(row.retry_policy) as TaskJson["retry"],
    attempt: row.attempt,
    attempts: parse(row.attempts, []),
    progress: parse(row.progress, null),
    waiting_reason: row.waiting_reason,
    next_attempt_at: row.next_attempt_at,
    constraints: JSON.parse(row.constraints) as TaskJson["constraints"],
    affinity_key: row.affinity_key,
    idempotency_key: row.idempotency_key,
    strategy: row.strategy,
    checkpoint: row.checkpoint === 1,
    cancel_requested: row.cancel_requested === 1,
    updated_at: row.updated_at,
  };
}

export function toTaskJson(row: TaskRow): TaskJson {
  const payload = parse<unknown>(row.payload, null);
  return { ...toTaskSummaryJson(row), parameters: payload, payload, result: parse(row.result, null) };
}

export function toTaskResultJson(row: TaskOutcomeRow): TaskResultJson {
  return {
    task_id: row.task_id,
    status: row.status,
    result: parse(row.result, null),
    error: parse(row.error, null),
  };
}

/** The outcome a live scheduler event tells, before the read model has it. */
export function outcomeOfEvent(e: TaskEvent): TaskResultJson | undefined {
  if (!("task" in e)) return undefined;
  return {
    task_id: e.task_id,
    status: e.task.status,
    result: e.kind === "completed" ? (e.result ?? null) : null,
    error: e.task.error,
  };
}

/** One server-sent event: `id:` the EVENTS stream sequence (when known), `event:` the kind. */
/**
 * Takes the response over from fastify and opens a server-sent event stream on it: no caching,
 * no proxy buffering (nginx honours `x-accel-buffering`), and a client reconnects after 2 s.
 * The connection is kept alive after the stream ends unless the request said `Connection: close`
 * (or is HTTP/1.0): node decides that in `shouldKeepAlive`, which a `keep-alive` header would override.
 */
export function openEventStream(reply: FastifyReply, write: (text: string) => void): void {
  reply.hijack();
  reply.raw.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: reply.raw.shouldKeepAlive ? "keep-alive" : "close",
    "x-accel-buffering": "no",
  });
  write("retry: 2000\n\n");
}

export function sseFrame(kind: string, seq: number | undefined, data: string): string {
  return `${seq === undefined ? "" : `id: ${seq}\n`}event: ${kind}\ndata: ${data}\n\n`;
}

/** The `data:` of a stored event: `{ seq, task_id, kind, at, ...the event's fields }`. */
export function storedEventData(row: TaskEventRow): string {
  const head = JSON.stringify({ seq: row.seq, task_id: row.task_id, kind: row.kind, at: row.at });
  return row.data.length > 2 ? `${head.slice(0, -1)},${row.data.slice(1)}` : head;
}

/** The `data:` of a live event, in the same shape (`seq` null while it is not stored yet). */
export function liveEventData(e: TaskEvent, seq: number | undefined): string {
  const { v: _v, id: _id, ts, sender: _s, trace_id: _t, task_id, kind, ...fields } = e;
  return JSON.stringify({ seq: seq ?? null, task_id, kind, at: ts, ...fields });
}
