import client from "prom-client";

/** Every metric of this process. */
export const registry = new client.Registry();
export const METRICS_CONTENT_TYPE = registry.contentType;

/** Latency buckets in seconds, from a millisecond to two minutes. */
export const SECONDS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
];

let initialised = false;

/**
 * Labels every metric with the service and its instance id (`service_instance`: Prometheus keeps
 * `instance` for the scraped address), and adds the process metrics (CPU, memory, event loop
 * lag, GC) once per process.
 */
export function initMetrics(labels: { service: string; instance: string }): void {
  registry.setDefaultLabels({ service: labels.service, service_instance: labels.instance });
  if (initialised) return;
  initialised = true;
  client.collectDefaultMetrics({ register: registry });
}

/**
 * A metric of this process by name, created on first use: modules that are loaded twice (tests
 * run several services in one process) share it instead of failing on a second registration.
 */
function once<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return once(name, () => new client.Counter<L>({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: client.Gauge<L>) => void | Promise<void>,
) {
  return once(
    name,
    () =>
      new client.Gauge<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }),
  );
}

export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = SECONDS_BUCKETS,
) {
  return once(
    name,
    () => new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }),
  );
}

/** This process's metrics in the Prometheus text format. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}
