import { counter, gauge, histogram } from "@openclaw/metrics";

/** A worker's own view, on its metrics port (`metrics.port`). */
export const workerMetrics = {
  attempts: counter("openclaw_worker_attempts_total", "Attempts this worker ran, by skill and outcome", [
    "skill",
    "outcome",
  ]),
  duration: histogram(
    "openclaw_worker_attempt_duration_seconds",
    "How long attempts ran here, by skill and outcome",
    ["skill", "outcome"],
  ),
  running: gauge("openclaw_worker_running_attempts", "Attempts running here now"),
  slots: gauge(
    "openclaw_worker_slots",
    "Attempts this worker runs at most at once (worker.max_concurrent_tasks)",
  ),
  stale: counter(
    "openclaw_worker_stale_dispatches_total",
    "Dispatches skipped because the record says they are not this node's any more",
  ),
};
