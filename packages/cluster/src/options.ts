import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigSchema, parseDuration, taskDefaults } from "@openclaw/config";
import type { PlacementStrategy, RetryPolicy, SubmissionDefaults } from "@openclaw/protocol";
import { OcError, PLACEMENT_STRATEGIES } from "@openclaw/protocol";
import { parse as parseYaml } from "yaml";

export interface ClusterOptions {
  /**
   * A YAML file to read the NATS URL, subject prefix, zone, strategy and retry policy from (this
   * project's config.yaml, or a cluster-config.yaml). A file that is missing, unreadable or not
   * YAML throws an `OcError` with code `OC-1002` from the constructor.
   */
  configPath?: string;
  /** NATS URL(s); else `NATS_URL`, else the config file's `communication.nats_url`, else nats://localhost:4222. */
  natsUrl?: string;
  /** The cluster's subject prefix (config `cluster.subject_prefix`). @default "oc" */
  prefix?: string;
  /** Accepted and ignored: nodes are always discovered through the registry. */
  autoDiscovery?: boolean;
  /** This client's zone, for `preferSameZone`. Else `OPENCLAW_ZONE`, else the config's `worker.zone`. */
  zone?: string;
  user?: string;
  password?: string;
  token?: string;
  /** Give up connecting after this long. @default 10_000 */
  connectTimeoutMs?: number;
}

export interface ResolvedOptions {
  natsUrl: string;
  prefix: string;
  zone: string | null;
  strategy: PlacementStrategy | null;
  /** Built-in task defaults, used until the cluster's own are known. */
  defaults: SubmissionDefaults;
  /** What the config file says of retries (`retryPolicy`): over the cluster's defaults. */
  retryOverrides: Partial<RetryPolicy>;
  user?: string;
  password?: string;
  token?: string;
  connectTimeoutMs: number;
}

type Doc = Record<string, Record<string, unknown> | undefined>;

/** `configPath`, named as given, and where it was looked for when that differs. */
function where(path: string): string {
  const abs = resolve(path);
  return abs === path ? JSON.stringify(path) : `${JSON.stringify(path)} (${abs})`;
}

/**
 * The `configPath` file: a missing, unreadable or non-YAML file throws `OC-1002` in one line that
 * names the option and the path; one that is YAML but not a mapping throws `OC-1001`.
 */
function read(path: string): Doc {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "is a directory, not a file"
          : `cannot be read (${code ?? (err as Error).message})`;
    throw new OcError("OC-1002", `configPath ${where(path)}: ${why}`, { field: "configPath" });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const first = (err as Error).message.split("\n")[0];
    throw new OcError("OC-1002", `configPath ${where(path)}: not valid YAML: ${first}`, {
      field: "configPath",
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new OcError(
      "OC-1001",
      `configPath ${where(path)}: expected a mapping of sections (communication, cluster, worker, ...), not ${Array.isArray(doc) ? "a list" : `a ${typeof doc}`}`,
      { field: "configPath" },
    );
  }
  return doc as Doc;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Reads what the SDK needs, leniently: our config layout (`communication.nats_url`,
 * `cluster.subject_prefix`, `worker.zone`, `scheduler.strategy`) and a cluster-config.yaml's
 * (`distribution.strategy`, `retryPolicy.maxAttempts/backoff/maxBackoff`). A task's defaults are
 * the cluster's (`tasks.*`, published by its scheduler); what this file says overrides them, and
 * the task itself overrides both.
 */
export function resolveOptions(
  o: ClusterOptions,
  env: Record<string, string | undefined> = process.env,
): ResolvedOptions {
  const doc = o.configPath ? read(o.configPath) : {};
  const retry = doc.retryPolicy;
  const overrides: Partial<RetryPolicy> = {};
  if (retry) {
    if (typeof retry.maxAttempts === "number") overrides.max_attempts = retry.maxAttempts;
    if (retry.backoff === "exponential" || retry.backoff === "fixed") overrides.backoff = retry.backoff;
    const max =
      typeof retry.maxBackoff === "string" || typeof retry.maxBackoff === "number"
        ? parseDuration(retry.maxBackoff)
        : undefined;
    if (max !== undefined) overrides.max_backoff_ms = max;
  }
  const strategy = str(doc.distribution?.strategy) ?? str(doc.scheduler?.strategy);
  return {
    natsUrl: o.natsUrl ?? env.NATS_URL ?? str(doc.communication?.nats_url) ?? "nats://localhost:4222",
    prefix: o.prefix ?? env.OPENCLAW_SUBJECT_PREFIX ?? str(doc.cluster?.subject_prefix) ?? "oc",
    zone: o.zone ?? env.OPENCLAW_ZONE ?? str(doc.worker?.zone) ?? null,
    strategy: (PLACEMENT_STRATEGIES as readonly string[]).includes(strategy ?? "")
      ? (strategy as PlacementStrategy)
      : null,
    defaults: taskDefaults(ConfigSchema.parse({})),
    retryOverrides: overrides,
    user: o.user ?? env.NATS_USER,
    password: o.password ?? env.NATS_PASSWORD,
    token: o.token ?? env.NATS_TOKEN,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
  };
}

/** The defaults a task gets: the cluster's (or the built-in ones), with this client's file on top. */
export function effectiveDefaults(
  o: ResolvedOptions,
  cluster: SubmissionDefaults | undefined,
): SubmissionDefaults {
  const base = cluster ?? o.defaults;
  return { ...base, retry: { ...base.retry, ...o.retryOverrides } };
}
