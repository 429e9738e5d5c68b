import {
  envelope,
  isTerminal,
  OcError,
  resolveSubmission,
  type TaskStatus,
  TaskSubmission,
} from "@openclaw/protocol";
import type { TaskRow } from "../../db/rows.js";
import { requireBus, type TaskBus } from "../../task-bus.js";
import type { Api, RouteDeps } from "../api.js";
import { errorBody } from "../errors.js";
import { ErrorJson } from "../schemas.js";
import { admitStream } from "../sse.js";
import { toTaskJson, toTaskResultJson, toTaskSummaryJson } from "../task-present.js";
import {
  CancelBody,
  ExistingTaskJson,
  encodeCursor,
  ResultQuery,
  RetryBody,
  SubmittedJson,
  TaskIdParams,
  TaskJson,
  TaskListQuery,
  TaskPageJson,
  TaskResultJson,
  TaskStateJson,
} from "../task-schemas.js";
import { awaitOutcome, streamTaskEvents } from "../task-stream.js";

/** How long a submission with an idempotency key waits for the scheduler to say whose the key is. */
const KEY_ANSWER_MS = 5000;

/** Statuses a task may be retried from. */
const RETRYABLE: readonly TaskStatus[] = ["failed", "timeout", "cancelled"];

function links(id: string) {
  const self = `/api/v1/tasks/${id}`;
  return { self, events: `${self}/events`, result: `${self}/result` };
}

/** `Last-Event-ID` of a reconnecting event stream: the stream sequence of the last event it got. */
function lastEventId(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && /^\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : 0;
}

/** The task routes: submit, list, one task, its events (SSE), its result (long poll), cancel, retry. */
export function registerTaskRoutes(app: Api, deps: RouteDeps): void {
  const tasks = deps.store.tasks;
  const settings = deps.tasks;
  const maxPayload = settings.defaults.max_payload_bytes;
  const feedDeps = { tasks, bus: deps.bus, closing: deps.closing };

  const bus = (): TaskBus => requireBus(deps.bus);

  function known(id: string): TaskRow {
    const row = tasks.get(id);
    if (!row) {
      throw new OcError(
        "OC-4006",
        `task '${id}' is not known to this coordinator; GET /api/v1/tasks lists the known tasks`,
      );
    }
    return row;
  }

  app.post(
    "/api/v1/tasks",
    {
      // Above the payload limit, so a too-large payload gets our answer (400 OC-4002), not 413.
      bodyLimit: maxPayload + Math.max(64 * 1024, Math.ceil(maxPayload / 4)),
      schema: {
        body: TaskSubmission,
        response: { 200: ExistingTaskJson, 202: SubmittedJson, 429: ErrorJson },
      },
    },
    async (req, reply) => {
      const resolved = resolveSubmission(req.body, settings.defaults);
      if (!resolved.ok) {
        const code = resolved.field === "payload" ? "OC-4002" : "OC-4000";
        throw new OcError(code, resolved.message, { field: resolved.field });
      }
      const spec = resolved.spec;
      const existing =
        tasks.get(spec.task_id) ??
        (spec.idempotency_key === null ? undefined : tasks.byIdempotencyKey(spec.idempotency_key));
      if (existing) {
        return reply.code(200).send({ ...toTaskJson(existing), links: links(existing.task_id) });
      }
      const pending = tasks.pendingCount();
      if (pending >= settings.maxPending) {
        return reply
          .code(429)
          .header("retry-after", "5")
          .send(
            errorBody(
              429,
              "OC-4029",
              `${pending} tasks are pending; the limit is ${settings.maxPending} (scheduler.max_pending). Try again later`,
            ),
          );
      }
      const submittedAt = deps.now().toISOString();
      const b = bus();
      await b.submit({ ...envelope(deps.sender), task: spec, submitted_at: submittedAt });
      // The scheduler owns key -> task: a key another task got first (a submission at the same
      // time, or through another coordinator) gives that task, and nothing is made for this one.
      const owner =
        spec.idempotency_key === null || !b.keyOwner
          ? undefined
          : await b.keyOwner(spec.idempotency_key, spec.task_id, KEY_ANSWER_MS);
      if (owner !== undefined && owner !== "this") {
        const row = tasks.get(owner.task_id);
        if (row) return reply.code(200).send({ ...toTaskJson(row), links: links(row.task_id) });
        const l = links(owner.task_id);
        return reply
          .code(202)
          .header("location", l.self)
          .send({ task_id: owner.task_id, status: owner.status, submitted_at: owner.submitted_at, links: l });
      }
      // Unanswered, the key's task may have reached the read model meanwhile.
      const keyed =
        spec.idempotency_key === null || owner === "this"
          ? undefined
          : tasks.byIdempotencyKey(spec.idempotency_key);
      if (keyed && keyed.task_id !== spec.task_id)
        return reply.code(200).send({ ...toTaskJson(keyed), links: links(keyed.task_id) });
      tasks.insertSubmitted(spec, submittedAt);
      const l = links(spec.task_id);
      return reply
        .code(202)
        .header("location", l.self)
        .send({ task_id: spec.task_id, status: "pending", submitted_at: submittedAt, links: l });
    },
  );

  app.get(
    "/api/v1/tasks",
    { schema: { querystring: TaskListQuery, response: { 200: TaskPageJson } } },
    async (req) => {
      const q = req.query;
      const rows = tasks.list({
        ...(q.status ? { statuses: q.status } : {}),
        ...(q.skill !== undefined ? { skill: q.skill } : {}),
        ...(q.node !== undefined ? { node: q.node } : {}),
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        ...(q.cursor ? { after: q.cursor } : {}),
        limit: q.limit + 1,
      });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        tasks: page.map(toTaskSummaryJson),
        next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null,
      };
    },
  );

  app.get(
    "/api/v1/tasks/:id",
    { schema: { params: TaskIdParams, response: { 200: TaskJson } } },
    async (req) => toTaskJson(known(req.params.id)),
  );

  app.get("/api/v1/tasks/:id/events", { schema: { params: TaskIdParams } }, async (req, reply) => {
    const id = req.params.id;
    const row = known(id);
    const after = lastEventId(req.headers["last-event-id"]);
    // A reconnecting EventSource that has everything of a finished task: 204 stops it reconnecting.
    const complete = isTerminal(row.status) && row.updated_seq > 0 && row.updated_seq <= after;
    if (complete && tasks.eventsAfter(id, after, 1).length === 0) return reply.code(204).send();
    const release = admitStream(req, reply, deps.streams);
    if (!release) return reply;
    try {
      await streamTaskEvents(reply, id, after, feedDeps);
    } finally {
      release();
    }
  });

  app.get(
    "/api/v1/tasks/:id/result",
    {
      schema: {
        params: TaskIdParams,
        querystring: ResultQuery,
        response: { 200: TaskResultJson, 202: TaskResultJson },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const row = known(id);
      const answer =
        isTerminal(row.status) || req.query.wait === 0
          ? toTaskResultJson(row)
          : ((await awaitOutcome(reply, id, req.query.wait, feedDeps)) ?? toTaskResultJson(row));
      return reply.code(isTerminal(answer.status) ? 200 : 202).send(answer);
    },
  );

  app.post(
    "/api/v1/tasks/:id/cancel",
    { schema: { params: TaskIdParams, body: CancelBody.nullish(), response: { 202: TaskStateJson } } },
    async (req, reply) => {
      const row = known(req.params.id);
      if (isTerminal(row.status)) {
        throw new OcError(
          "OC-4009",
          `task '${row.task_id}' is ${row.status} already; there is nothing to cancel`,
        );
      }
      await bus().cancel(
        {
          ...envelope(deps.sender),
          task_id: row.task_id,
          reason: req.body?.reason ?? "cancelled through the API",
        },
        `cancel-${row.task_id}-${row.updated_seq}`,
      );
      return reply.code(202).send({ task_id: row.task_id, status: row.status });
    },
  );

  app.post(
    "/api/v1/tasks/:id/retry",
    { schema: { params: TaskIdParams, body: RetryBody.nullish(), response: { 202: TaskStateJson } } },
    async (req, reply) => {
      const row = known(req.params.id);
      if (!RETRYABLE.includes(row.status)) {
        throw new OcError(
          "OC-4009",
          `task '${row.task_id}' is ${row.status}; only ${RETRYABLE.join(", ")} tasks can be retried`,
        );
      }
      await bus().retry(
        { ...envelope(deps.sender), task_id: row.task_id, ...(req.body?.fresh ? { fresh: true } : {}) },
        `retry-${row.task_id}-${row.updated_seq}`,
      );
      return reply.code(202).send({ task_id: row.task_id, status: row.status });
    },
  );
}
