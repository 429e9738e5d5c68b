/**
 * Where each setting can come from besides the config file: the environment variable and the
 * command-line flag that set it. docs/configuration.md lists the same table (a test checks).
 */
export interface SettingSource {
  /** `section.key` in the config schema. */
  path: string;
  env?: string;
  /** Long flag name; `--port` and `--host` are mapped per service below. */
  flag?: string;
}

export const SETTING_SOURCES: SettingSource[] = [
  { path: "cluster.name", env: "OPENCLAW_CLUSTER_NAME" },
  { path: "cluster.subject_prefix", env: "OPENCLAW_SUBJECT_PREFIX" },
  { path: "cluster.election_timeout", env: "OPENCLAW_ELECTION_TIMEOUT" },
  { path: "cluster.lease_renew_interval", env: "OPENCLAW_LEASE_RENEW_INTERVAL" },
  { path: "cluster.events_max_age", env: "OPENCLAW_EVENTS_MAX_AGE" },
  { path: "cluster.replicas", env: "OPENCLAW_REPLICAS" },
  { path: "storage.path", env: "OPENCLAW_DB_PATH", flag: "--db-path" },
  { path: "coordinator.host", env: "OPENCLAW_HOST", flag: "--host" },
  { path: "coordinator.port", env: "OPENCLAW_PORT", flag: "--port" },
  { path: "coordinator.heartbeat_timeout", env: "OPENCLAW_HEARTBEAT_TIMEOUT", flag: "--heartbeat-timeout" },
  {
    path: "coordinator.heartbeat_check_interval",
    env: "OPENCLAW_HEARTBEAT_CHECK_INTERVAL",
    flag: "--heartbeat-check-interval",
  },
  { path: "coordinator.api_keys", env: "OPENCLAW_API_KEYS" },
  { path: "coordinator.read_api_keys", env: "OPENCLAW_READ_API_KEYS" },
  { path: "coordinator.open_reads", env: "OPENCLAW_OPEN_READS" },
  { path: "health.unhealthy_threshold", env: "OPENCLAW_UNHEALTHY_THRESHOLD" },
  { path: "health.healthy_threshold", env: "OPENCLAW_HEALTHY_THRESHOLD" },
  { path: "health.unreachable_timeout", env: "OPENCLAW_UNREACHABLE_TIMEOUT" },
  { path: "scheduler.strategy", env: "OPENCLAW_STRATEGY", flag: "--strategy" },
  { path: "scheduler.max_pending", env: "OPENCLAW_MAX_PENDING", flag: "--max-pending" },
  { path: "scheduler.aging_interval", env: "OPENCLAW_AGING_INTERVAL" },
  { path: "scheduler.interval", env: "OPENCLAW_SCHEDULER_INTERVAL" },
  { path: "scheduler.dispatch_timeout", env: "OPENCLAW_DISPATCH_TIMEOUT" },
  { path: "scheduler.breaker_failure_threshold", env: "OPENCLAW_BREAKER_FAILURE_THRESHOLD" },
  { path: "scheduler.breaker_recovery_timeout", env: "OPENCLAW_BREAKER_RECOVERY_TIMEOUT" },
  { path: "scheduler.breaker_half_open_requests", env: "OPENCLAW_BREAKER_HALF_OPEN_REQUESTS" },
  { path: "tasks.default_timeout", env: "OPENCLAW_TASK_TIMEOUT" },
  { path: "tasks.max_attempts", env: "OPENCLAW_MAX_ATTEMPTS" },
  { path: "tasks.backoff", env: "OPENCLAW_BACKOFF" },
  { path: "tasks.initial_backoff", env: "OPENCLAW_INITIAL_BACKOFF" },
  { path: "tasks.max_backoff", env: "OPENCLAW_MAX_BACKOFF" },
  { path: "tasks.backoff_jitter", env: "OPENCLAW_BACKOFF_JITTER" },
  { path: "tasks.max_payload_bytes", env: "OPENCLAW_MAX_PAYLOAD_BYTES" },
  { path: "tasks.max_result_bytes", env: "OPENCLAW_MAX_RESULT_BYTES" },
  { path: "worker.node_id", env: "OPENCLAW_NODE_ID", flag: "--node-id" },
  {
    path: "worker.max_concurrent_tasks",
    env: "OPENCLAW_MAX_CONCURRENT_TASKS",
    flag: "--max-concurrent-tasks",
  },
  { path: "worker.heartbeat_interval", env: "OPENCLAW_HEARTBEAT_INTERVAL", flag: "--heartbeat-interval" },
  { path: "worker.skills_dir", env: "OPENCLAW_SKILLS_DIR", flag: "--skills-dir" },
  { path: "worker.skills_poll_interval", env: "OPENCLAW_SKILLS_POLL_INTERVAL" },
  { path: "worker.port", env: "OPENCLAW_WORKER_PORT" },
  { path: "worker.labels", env: "OPENCLAW_LABELS", flag: "--labels" },
  { path: "worker.zone", env: "OPENCLAW_ZONE", flag: "--zone" },
  { path: "worker.advertise_ip", env: "OPENCLAW_ADVERTISE_IP", flag: "--advertise-ip" },
  { path: "worker.allowed_commands", env: "OPENCLAW_ALLOWED_COMMANDS" },
  { path: "worker.skill_env", env: "OPENCLAW_SKILL_ENV" },
  { path: "worker.drain_timeout", env: "OPENCLAW_DRAIN_TIMEOUT", flag: "--drain-timeout" },
  { path: "worker.skill_threads", env: "OPENCLAW_SKILL_THREADS", flag: "--skill-threads" },
  { path: "communication.nats_url", env: "NATS_URL", flag: "--nats-url" },
  { path: "communication.nats_user", env: "NATS_USER" },
  { path: "communication.nats_password", env: "NATS_PASSWORD" },
  { path: "communication.nats_token", env: "NATS_TOKEN" },
  { path: "communication.connect_timeout", env: "OPENCLAW_NATS_CONNECT_TIMEOUT" },
  { path: "metrics.port", env: "OPENCLAW_METRICS_PORT", flag: "--metrics-port" },
  { path: "metrics.host", env: "OPENCLAW_METRICS_HOST" },
  { path: "log.level", env: "OPENCLAW_LOG_LEVEL", flag: "--log-level" },
  { path: "log.format", env: "OPENCLAW_LOG_FORMAT", flag: "--log-format" },
];

/** Environment variables naming files rather than settings. */
export const FILE_ENV = { config: "OPENCLAW_CONFIG", secrets: "OPENCLAW_SECRETS_FILE" } as const;

/** The config path a flag sets for a given service: `--port` is the worker's own port on a worker. */
export function flagPath(flag: string, service: string): string | undefined {
  if (service === "worker" && flag === "--port") return "worker.port";
  return SETTING_SOURCES.find((s) => s.flag === flag)?.path;
}
