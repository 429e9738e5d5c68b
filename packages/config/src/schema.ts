import { hostname } from "node:os";
import {
  Duration,
  DurationOrZero,
  formatDuration,
  nodeIdProblem,
  PlacementStrategy,
  tokenProblem,
} from "@openclaw/protocol";
import { z } from "zod";

/** An integer given as a number (YAML) or a string of digits (env, flags). */
function int(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const n = typeof value === "number" ? value : /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `expected a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });
}

/** A list of names given as a list (YAML) or comma-separated (env, flags). */
const NameList = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (typeof v === "string" ? v.split(",") : v).map((s) => s.trim()).filter((s) => s !== ""));

/** A yes/no given as a boolean (YAML) or `true`/`false`/`1`/`0`/`yes`/`no` (env, flags). */
const Flag = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === "boolean") return value;
  const v = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off", ""].includes(v)) return false;
  ctx.addIssue({ code: "custom", message: "expected true or false" });
  return z.NEVER;
});

/** API keys: a list (YAML) or comma-separated (env); each long enough not to be guessed. */
const ApiKeys = NameList.pipe(
  z.array(
    z
      .string()
      .min(16, "an API key must be at least 16 characters")
      .max(256)
      .regex(/^[\x21-\x7e]+$/, "an API key is printable ASCII without spaces or commas")
      .refine((k) => !k.includes(","), "an API key is printable ASCII without spaces or commas"),
  ),
);

/** A decimal number given as a number (YAML) or a string (env, flags). */
function decimal(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const n =
      typeof value === "number" ? value : /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `expected a number from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });
}

function token(what: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = tokenProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `${what} ${problem}` });
  });
}

/** A node id: a subject token that does not shadow an API route (`online`, `skills`). */
function nodeIdString() {
  return z.string().superRefine((value, ctx) => {
    const problem = nodeIdProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `node id ${problem}` });
  });
}

/** The machine's hostname reduced to a valid node id, the default `worker.node_id`. */
export function defaultNodeId(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 64);
  if (cleaned.length === 0) return "worker";
  // A machine called `online` or `skills` would get an id the node routes shadow.
  return nodeIdProblem(cleaned) ? `${cleaned}-worker` : cleaned;
}

/** Labels as a map, or as `k=v,k2=v2` (a bare `gpu` means `gpu=true`). */
export const Labels = z
  .union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), z.string()])
  .transform((value, ctx) => {
    const out: Record<string, string> = {};
    const pairs: [string, string][] =
      typeof value === "string"
        ? value
            .split(",")
            .map((p) => p.trim())
            .filter((p) => p !== "")
            .map((p) => {
              const eq = p.indexOf("=");
              return eq < 0 ? [p, "true"] : [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
            })
        : Object.entries(value).map(([k, v]) => [k, String(v)]);
    for (const [k, v] of pairs) {
      if (!/^[A-Za-z0-9_./-]{1,63}$/.test(k)) {
        ctx.addIssue({ code: "custom", message: `label key '${k}' must be 1-63 of A-Z a-z 0-9 _ . / -` });
        return z.NEVER;
      }
      if (v.length > 128) {
        ctx.addIssue({ code: "custom", message: `label '${k}' value is longer than 128 characters` });
        return z.NEVER;
      }
      out[k] = v;
    }
    return out;
  });

const LogLevel = z
  .string()
  .transform((s) => s.toLowerCase())
  .transform((s) => (s === "warning" ? "warn" : s === "critical" ? "fatal" : s))
  .pipe(z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]));

/**
 * Every configuration key and its default. Keys and layout follow seed 004's `config.yaml`;
 * durations are parsed to milliseconds.
 */
export const ConfigSchema = z
  .strictObject({
    cluster: z
      .strictObject({
        /** Shown in logs. */
        name: z.string().min(1).max(64).default("openclaw"),
        /** First token of every subject; names the streams and buckets too. */
        subject_prefix: token("subject prefix").default("oc"),
        /** Leader lease TTL: a standby takes over this long after the leader stops renewing. */
        election_timeout: Duration.default(5000),
        /** How often a leader renews its lease and a standby tries to take it. */
        lease_renew_interval: Duration.default(1000),
        /** How long node and task events are kept in the EVENTS stream. */
        events_max_age: Duration.default(7 * 24 * 3_600_000),
        /** Copies of every stream and KV bucket kept by a NATS cluster (1 on a single server). */
        replicas: int(1, 5).default(1),
      })
      .prefault({}),
    storage: z
      .strictObject({
        type: z.literal("sqlite").default("sqlite"),
        path: z.string().min(1).default("./data/cluster.db"),
      })
      .prefault({}),
    coordinator: z
      .strictObject({
        host: z.string().min(1).default("0.0.0.0"),
        port: int(0, 65535).default(8888),
        /** A node without a heartbeat for this long is offline. */
        heartbeat_timeout: Duration.default(90_000),
        /** How often the health monitor checks heartbeat ages. */
        heartbeat_check_interval: Duration.default(30_000),
        /** Keys that may do everything through the API; once any key is set, writes need one. */
        api_keys: ApiKeys.default([]),
        /** Keys that may only read (GET). */
        read_api_keys: ApiKeys.default([]),
        /** With keys set, let reads (GET) through without one; writes still need a key. */
        open_reads: Flag.default(false),
      })
      .prefault({}),
    health: z
      .strictObject({
        /** Missed heartbeat intervals before a node is suspect (seed 000 unhealthyThreshold). */
        unhealthy_threshold: int(1, 1000).default(3),
        /** Heartbeats in a row before a suspect or offline node is online again (healthyThreshold). */
        healthy_threshold: int(1, 1000).default(2),
        /**
         * A node whose last heartbeat is this old is pinged; if its connection to NATS is gone
         * (nobody answers on its subject) it is offline at once, without waiting for
         * `coordinator.heartbeat_timeout`. A crashed worker fails over in seconds; a slow or
         * frozen one still answers or times out, and waits for the timeout. 0 turns it off.
         */
        unreachable_timeout: DurationOrZero.default(10_000),
      })
      .prefault({}),
    scheduler: z
      .strictObject({
        /** How a node is chosen among those that fit (seed 000 `distribution.strategy`). */
        strategy: PlacementStrategy.default("least-loaded"),
        /** Submissions beyond this many pending tasks are refused with 429 (seed 000 `taskQueue.maxPending`). */
        max_pending: int(1, 10_000_000).default(10_000),
        /** A waiting task rises one priority level per interval, so low priority never starves. */
        aging_interval: Duration.default(30_000),
        /** How often every pending task is looked at again, besides on every change (seed 002 `scheduler.interval`). */
        interval: Duration.default(1000),
        /** A dispatched attempt its node has not started within this long is taken back and placed again. */
        dispatch_timeout: Duration.default(30_000),
        /** Failed attempts in a row that open a node's circuit breaker (seed 000 `circuitBreaker.failureThreshold`); 0 turns breakers off. */
        breaker_failure_threshold: int(0, 1000).default(5),
        /** How long an open breaker keeps work off its node before trial tasks (`recoveryTimeout`). */
        breaker_recovery_timeout: Duration.default(60_000),
        /** Trial tasks a half-open breaker lets through; all must succeed to close it (`halfOpenRequests`). */
        breaker_half_open_requests: int(1, 1000).default(3),
      })
      .prefault({}),
    tasks: z
      .strictObject({
        /** When a submission gives none (seed 000's SDK uses 10m). */
        default_timeout: Duration.default(600_000),
        /** Attempts in all, the first included (seed 000 `retryPolicy.maxAttempts`). */
        max_attempts: int(1, 100).default(3),
        backoff: z.enum(["exponential", "fixed"]).default("exponential"),
        initial_backoff: Duration.default(1000),
        /** seed 000 `retryPolicy.maxBackoff`. */
        max_backoff: Duration.default(300_000),
        /** Each retry delay is spread by up to ± this fraction. */
        backoff_jitter: decimal(0, 1).default(0.2),
        max_payload_bytes: int(1, 64 * 1024 * 1024).default(1024 * 1024),
        max_result_bytes: int(1, 64 * 1024 * 1024).default(1024 * 1024),
      })
      .prefault({}),
    worker: z
      .strictObject({
        node_id: nodeIdString().default(defaultNodeId),
        max_concurrent_tasks: int(1, 10_000).default(5),
        /**
         * Threads module skills run in; the task slots share them. 0: as many as the machine has
         * cores (at least 2, at most max_concurrent_tasks). max_concurrent_tasks: a thread per attempt.
         */
        skill_threads: int(0, 10_000).default(0),
        heartbeat_interval: Duration.default(5000),
        skills_dir: z.string().min(1).default("./skills"),
        /** How often the skills directory is rescanned for changes. */
        skills_poll_interval: Duration.default(2000),
        /** The OpenClaw gateway port of this machine, announced to the cluster. */
        port: int(0, 65535).default(18789),
        labels: Labels.default({}),
        zone: z.string().min(1).max(64).nullable().default(null),
        /** Address to announce instead of the detected one (e.g. the Tailscale address). */
        advertise_ip: z.string().min(1).max(64).nullable().default(null),
        /** Command names the `shell` example skill may run; none by default. */
        allowed_commands: NameList.default([]),
        /**
         * The worker's environment variables a command skill sees: names, or a prefix ending in
         * `*` (`LC_*`). Nothing else reaches it (a shared environment file may hold API keys);
         * NATS_USER/NATS_PASSWORD/NATS_TOKEN never, NATS_URL without its user:password@.
         */
        skill_env: NameList.pipe(
          z.array(
            z
              .string()
              .regex(
                /^[A-Za-z_][A-Za-z0-9_]*\*?$/,
                "must be an environment variable name (letters, digits, _), or a prefix of one ending in * (LC_*)",
              ),
          ),
        ).default(["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_*", "TZ", "TMPDIR"]),
        /** On SIGTERM the worker drains: takes no new work and waits this long for running tasks before handing the rest back. */
        drain_timeout: Duration.default(30_000),
        /**
         * How long an attempt runs before the worker reports its start. A shorter attempt's
         * outcome reports both (one message and one task record write fewer); 0 reports every start.
         */
        started_report_delay: DurationOrZero.default(50),
      })
      .prefault({}),
    communication: z
      .strictObject({
        nats_url: z
          .string()
          .min(1)
          .default("nats://localhost:4222")
          .refine(
            (s) =>
              s
                .split(",")
                .every(
                  (u) => /^(nats|tls|ws|wss):\/\/[^\s]+$/.test(u.trim()) || /^[^\s/:]+:\d+$/.test(u.trim()),
                ),
            {
              message: "expected nats://host:port (several separated by commas)",
            },
          ),
        nats_user: z.string().min(1).optional(),
        nats_password: z.string().min(1).optional(),
        nats_token: z.string().min(1).optional(),
        /** Give up starting after this long without NATS; once connected, reconnects forever. */
        connect_timeout: Duration.default(10_000),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /**
         * Port of this service's own `GET /metrics` (Prometheus); 0 = none. The coordinator also
         * serves its metrics on its API port.
         */
        port: int(0, 65535).default(0),
        /** Address the metrics port listens on. */
        host: z.string().min(1).default("0.0.0.0"),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: LogLevel.default("info"),
        format: z.enum(["json", "pretty"]).default("json"),
      })
      .prefault({}),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.cluster.lease_renew_interval >= cfg.cluster.election_timeout) {
      ctx.addIssue({
        code: "custom",
        path: ["cluster", "lease_renew_interval"],
        message: "must be shorter than cluster.election_timeout, or leases lapse between renewals",
      });
    }
    if (cfg.coordinator.heartbeat_timeout <= cfg.worker.heartbeat_interval) {
      ctx.addIssue({
        code: "custom",
        path: ["coordinator", "heartbeat_timeout"],
        message: "must be longer than worker.heartbeat_interval, or every node looks dead between heartbeats",
      });
    }
    if (cfg.tasks.initial_backoff > cfg.tasks.max_backoff) {
      ctx.addIssue({
        code: "custom",
        path: ["tasks", "initial_backoff"],
        message: `must not be longer than tasks.max_backoff (${formatDuration(cfg.tasks.max_backoff)}): retry delays start at initial_backoff and grow up to max_backoff`,
      });
    }
    if (cfg.communication.nats_password && !cfg.communication.nats_user) {
      ctx.addIssue({
        code: "custom",
        path: ["communication", "nats_user"],
        message: "is required with nats_password",
      });
    }
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.output<typeof ConfigSchema>;

/** Every `section.key` of the schema, for docs checks and tooling. */
export function configKeys(): string[] {
  return Object.entries(ConfigSchema.shape).flatMap(([section, wrapped]) => {
    const inner = (wrapped as unknown as { _zod: { def: { innerType: z.ZodObject } } })._zod.def.innerType;
    return Object.keys(inner.shape).map((key) => `${section}.${key}`);
  });
}
