import { OcError } from "@openclaw/protocol";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import type { NodeRow } from "../../db/rows.js";
import { UP_STATUSES } from "../../status.js";
import { requireBus } from "../../task-bus.js";
import type { Api, RouteDeps } from "../api.js";
import { toEventJson, toNodeHealthJson, toNodeJson } from "../present.js";
import {
  DrainAcceptedJson,
  DrainBody,
  EventsQuery,
  NodeEventJson,
  NodeHealthJson,
  NodeIdParams,
  NodeJson,
  NodeListQuery,
  SkillParams,
  SkillQuery,
} from "../schemas.js";

const NodeList = z.array(NodeJson);

/** One page of a node list when `limit` or `offset` is given; `X-Total-Count` says how many in all. */
function page(
  rows: NodeRow[],
  q: { limit?: number | undefined; offset?: number | undefined },
  reply: FastifyReply,
): NodeRow[] {
  if (q.limit === undefined && q.offset === undefined) return rows;
  reply.header("x-total-count", String(rows.length));
  const from = q.offset ?? 0;
  return rows.slice(from, from + (q.limit ?? 1000));
}

/** The node routes of seed 004, plus a node's event history. */
export function registerNodeRoutes(app: Api, deps: RouteDeps): void {
  const { store } = deps;

  function known(id: string): NodeRow {
    const row = store.getNode(id);
    if (!row) {
      throw new OcError(
        "OC-4004",
        `node '${id}' is not known to this coordinator; GET /api/v1/nodes lists the known nodes`,
      );
    }
    return row;
  }

  app.get(
    "/api/v1/nodes",
    { schema: { querystring: NodeListQuery, response: { 200: NodeList } } },
    async (req, reply) => {
      const rows = store.listNodes(req.query.status ? [req.query.status] : undefined);
      return page(rows, req.query, reply).map(toNodeJson);
    },
  );

  app.get("/api/v1/nodes/online", { schema: { response: { 200: NodeList } } }, async () =>
    store.listNodes(UP_STATUSES).map(toNodeJson),
  );

  app.get(
    "/api/v1/nodes/skills/:skill",
    { schema: { params: SkillParams, querystring: SkillQuery, response: { 200: NodeList } } },
    async (req, reply) => {
      const { status, limit, offset } = req.query;
      const statuses = status === "any" ? undefined : status ? [status] : UP_STATUSES;
      if (limit !== undefined || offset !== undefined) {
        return page(store.nodesWithSkill(req.params.skill, statuses), req.query, reply).map(toNodeJson);
      }
      const body = deps.cache.json(`skill:${req.params.skill}:${status ?? ""}`, NodeList, () =>
        store.nodesWithSkill(req.params.skill, statuses).map(toNodeJson),
      );
      // JSON already checked against the schema: fastify sends a Buffer as it is.
      return reply.type("application/json").send(body as never);
    },
  );

  app.get(
    "/api/v1/nodes/:id",
    { schema: { params: NodeIdParams, response: { 200: NodeJson } } },
    async (req) => toNodeJson(known(req.params.id)),
  );

  app.get(
    "/api/v1/nodes/:id/health",
    { schema: { params: NodeIdParams, response: { 200: NodeHealthJson } } },
    async (req) => toNodeHealthJson(known(req.params.id), deps.now()),
  );

  // Drain (seeds 001 and 002 "maintenance"): no new work goes to the node, running tasks finish.
  // An operator's drain lasts until undrained, across restarts of the worker.
  for (const draining of [true, false]) {
    app.post(
      `/api/v1/nodes/:id/${draining ? "drain" : "undrain"}`,
      {
        schema: {
          params: NodeIdParams,
          body: DrainBody.nullish(),
          response: { 202: DrainAcceptedJson },
        },
      },
      async (req, reply) => {
        const row = known(req.params.id);
        const reason = req.body?.reason ?? (draining ? "drained by an operator" : "undrained by an operator");
        await requireBus(deps.bus).drain(row.node_id, draining, reason);
        return reply.code(202).send({
          node_id: row.node_id,
          draining,
          reason,
          running_tasks: row.running_tasks,
          message: draining
            ? "no new tasks will be placed on the node; its running tasks finish"
            : "the node takes new tasks again",
        });
      },
    );
  }

  app.get(
    "/api/v1/nodes/:id/events",
    { schema: { params: NodeIdParams, querystring: EventsQuery, response: { 200: z.array(NodeEventJson) } } },
    async (req) => {
      known(req.params.id);
      return store.nodeEvents(req.params.id, req.query.limit).map(toEventJson);
    },
  );
}
