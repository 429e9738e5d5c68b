import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { jsonSchemaTransform } from "fastify-type-provider-zod";
import type { Api } from "./api.js";

/** The API's groups, in the order `/docs` shows them; each route is tagged by its path. */
const TAGS = [
  { name: "service", description: "this coordinator's own health (for load balancers)" },
  { name: "nodes", description: "worker nodes: skills, health, load, drain" },
  { name: "cluster", description: "the cluster as a whole: health, queue, leaders" },
  { name: "tasks", description: "submit, follow, cancel and retry tasks" },
] as const;

function tagOf(url: string): string {
  if (url.startsWith("/api/v1/nodes")) return "nodes";
  if (url.startsWith("/api/v1/cluster")) return "cluster";
  if (url.startsWith("/api/v1/tasks")) return "tasks";
  return "service";
}

/**
 * The OpenAPI document, made from the same zod schemas that validate every request and answer
 * (`jsonSchemaTransform`), served at `/openapi.json`, with an interactive page at `/docs`.
 * Registered before the routes, so it sees every one of them.
 */
export function registerOpenApi(app: Api, version: string): void {
  app.register(fastifySwagger, {
    openapi: {
      info: {
        title: "OpenClaw Cluster API",
        version,
        description:
          "The coordinator's HTTP API: nodes and their skills, the cluster's health and queue, and tasks. Errors answer `{ statusCode, error, code, message, field? }` with a stable `code` (docs/errors.md).",
      },
      tags: [...TAGS],
      // Keys are optional until the coordinator has some (docs/api.md, API keys); /docs has an Authorize button.
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "an API key as a bearer token" },
          apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        },
      },
      security: [{}, { bearer: [] }, { apiKey: [] }],
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      return { ...out, schema: { ...out.schema, tags: [tagOf(input.url)] } };
    },
  });
  app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}
