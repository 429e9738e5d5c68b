import type { Api, RouteDeps } from "../api.js";
import { ServiceHealthJson } from "../schemas.js";

/**
 * `GET /health` (and `GET /api/v1/health`): 200 while NATS is connected, 503 `degraded` while it is not.
 * `GET /metrics` and `GET /api/v1/metrics`: Prometheus metrics (seed 001's path, and the usual one).
 */
export function registerServiceRoutes(app: Api, deps: RouteDeps): void {
  // Load balancers and rolling-update scripts poll either path: the same answer at both.
  for (const url of ["/health", "/api/v1/health"]) {
    app.get(
      url,
      { schema: { response: { 200: ServiceHealthJson, 503: ServiceHealthJson } } },
      async (_req, reply) => {
        const now = deps.now();
        const nats = deps.nats();
        return reply.code(nats === "connected" ? 200 : 503).send({
          status: nats === "connected" ? "ok" : "degraded",
          service: "coordinator",
          instance: deps.instance,
          version: deps.version,
          uptime_seconds: Math.floor((now.getTime() - deps.startedAt.getTime()) / 1000),
          nats,
          timestamp: now.toISOString(),
        });
      },
    );
  }

  for (const url of ["/metrics", "/api/v1/metrics"]) {
    app.get(url, { schema: { hide: true } }, async (_req, reply) => {
      const { contentType, body } = await deps.metrics.text();
      return reply.type(contentType).send(body);
    });
  }
}
