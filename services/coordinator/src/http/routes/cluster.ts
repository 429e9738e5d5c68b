import { LEADER_ROLES, OcError } from "@openclaw/protocol";
import type { Leadership } from "../../leadership.js";
import type { Api, RouteDeps } from "../api.js";
import { streamFeed } from "../feed-stream.js";
import { toClusterHealth, toQueue } from "../present.js";
import {
  ClusterHealthJson,
  DEAD_LETTER_PREVIEW_BYTES,
  DeadLettersJson,
  DeadLettersQuery,
  ElectBody,
  ElectedJson,
  ErrorJson,
  LeadersJson,
  QueueJson,
  SeriesJson,
} from "../schemas.js";
import { admitStream } from "../sse.js";

/**
 * `GET /api/v1/cluster/health`: node counts by status and capacity of the nodes that are up.
 * `GET /api/v1/cluster/queue`: live tasks by status, waiting tasks by priority, both by skill.
 * `GET /api/v1/cluster/leaders` and `POST /api/v1/cluster/elect`: who leads each role (from the
 * `leases` bucket, not the read model), and asking a leader to step down.
 */
/** How long a queue answer is served while tasks change. */
const QUEUE_REUSE_MS = 1000;

export function registerClusterRoutes(app: Api, deps: RouteDeps): void {
  app.get(
    "/api/v1/cluster/health",
    { schema: { response: { 200: ClusterHealthJson } } },
    async (_req, reply) =>
      reply
        .type("application/json")
        .send(
          deps.cache.json("cluster-health", ClusterHealthJson, () =>
            toClusterHealth(deps.store.statusTotals(), deps.now()),
          ) as never,
        ),
  );

  app.get("/api/v1/cluster/queue", { schema: { response: { 200: QueueJson } } }, async (_req, reply) =>
    reply.type("application/json").send(
      // Counting the live tasks takes ~0.1 s at 30,000 of them: at most once a second.
      deps.cache.json(
        "queue",
        QueueJson,
        () => toQueue(deps.store.queue.byPriority(), deps.store.queue.bySkill(), deps.now()),
        QUEUE_REUSE_MS,
      ) as never,
    ),
  );

  app.get("/api/v1/cluster/series", { schema: { response: { 200: SeriesJson } } }, async () => {
    const activity = deps.activity;
    return { step_seconds: activity.stepMs / 1000, points: activity.series(deps.now().getTime()) };
  });

  // Live task events for the dashboard, in batches (server-sent events; not in the OpenAPI document).
  app.get("/api/v1/cluster/feed", { schema: { hide: true } }, async (req, reply) => {
    const release = admitStream(req, reply, deps.streams);
    if (!release) return reply;
    try {
      await streamFeed(reply, deps.activity, deps.closing);
    } finally {
      release();
    }
  });

  function leadership(): Leadership {
    if (!deps.leadership)
      throw new OcError("OC-5003", "this coordinator has no NATS connection to read the leases");
    return deps.leadership;
  }

  // The messages services gave up on (hardening item 4): for an operator to see what was refused, why.
  app.get(
    "/api/v1/cluster/dead-letters",
    { schema: { querystring: DeadLettersQuery, response: { 200: DeadLettersJson, 503: ErrorJson } } },
    async (req) => {
      if (!deps.deadLetters)
        throw new OcError("OC-5003", "this coordinator has no NATS connection to read the dead letters");
      let letters: Awaited<ReturnType<typeof deps.deadLetters>>;
      try {
        letters = await deps.deadLetters(req.query.limit);
      } catch (err) {
        throw new OcError("OC-5003", `cannot read the dead letters (NATS: ${(err as Error).message})`, {
          cause: err,
        });
      }
      const text = new TextDecoder();
      return {
        dead_letters: letters.map((l) => ({
          seq: l.seq,
          at: l.at.toISOString(),
          source: l.source,
          subject: l.subject,
          reason: l.reason,
          deliveries: l.deliveries,
          size: l.data.length,
          data: text.decode(l.data.subarray(0, DEAD_LETTER_PREVIEW_BYTES)),
          data_truncated: l.data.length > DEAD_LETTER_PREVIEW_BYTES,
        })),
      };
    },
  );

  app.get(
    "/api/v1/cluster/leaders",
    { schema: { response: { 200: LeadersJson, 503: ErrorJson } } },
    async () => {
      const { ttlMs, leaders } = await leadership().leaders();
      return { checked_at: deps.now().toISOString(), lease_ttl_ms: ttlMs, leaders };
    },
  );

  app.post(
    "/api/v1/cluster/elect",
    { schema: { body: ElectBody.nullish(), response: { 200: ElectedJson, 429: ErrorJson, 503: ErrorJson } } },
    async (req, reply) => {
      const roles = req.body?.role ? [req.body.role] : LEADER_ROLES;
      const outcomes = await leadership().elect(roles, req.body?.reason ?? "asked through the API");
      const body: ElectedJson = { stepped_down: [], not_answered: [] };
      let retryAfterMs = 0;
      for (const o of outcomes) {
        if (o.ok) {
          const { role, holder, term, hold_off_ms } = o.reply;
          body.stepped_down.push({ role, holder, term, hold_off_ms });
        } else {
          body.not_answered.push({ role: o.role, reason: o.reason, message: o.message });
          if (o.reason === "too_soon") retryAfterMs = Math.max(retryAfterMs, o.retryAfterMs);
        }
      }
      if (body.stepped_down.length === 0 && retryAfterMs > 0) {
        // A leader refused: elected less than one election timeout ago (hardening item 8).
        reply.header("retry-after", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
        throw new OcError(
          "OC-4031",
          `${body.not_answered.map((n) => n.message).join("; ")}; nothing stepped down`,
        );
      }
      if (body.stepped_down.length === 0) {
        throw new OcError(
          "OC-5004",
          `${body.not_answered.map((n) => n.message).join("; ")}; nothing stepped down (a leader that just resigned or is still taking over does not answer: try again in a few seconds)`,
        );
      }
      return body;
    },
  );
}
