/**
 * Prometheus metrics for every service, with prom-client. Each service process registers its own
 * metrics on the process-wide `registry` (one service per process in a deployment), labelled
 * with its service and instance; `serveMetrics` exposes them on `metrics.port`. The coordinator
 * also serves them on its API (`/metrics`, `/api/v1/metrics`).
 *
 * ```ts
 * initMetrics({ service: "scheduler", instance: "scheduler-a-1" });
 * trackNatsConnection(nc.status());
 * const server = await serveMetrics({ host: "0.0.0.0", port: 9464 });
 * ```
 */

export { trackNatsConnection } from "./nats.js";
export {
  counter,
  gauge,
  histogram,
  initMetrics,
  METRICS_CONTENT_TYPE,
  metricsText,
  registry,
  SECONDS_BUCKETS,
} from "./registry.js";
export { type MetricsServer, serveMetrics } from "./server.js";
