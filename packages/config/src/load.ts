import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { OcError } from "@openclaw/protocol";
import { parse as parseYaml } from "yaml";
import { type Config, ConfigSchema } from "./schema.js";
import { FILE_ENV, flagPath, SETTING_SOURCES } from "./sources.js";

type Section = Record<string, unknown>;
type Layer = Record<string, Section>;

export interface LoadConfigOptions {
  /** Explicit config file (`-c`); else `OPENCLAW_CONFIG`; else `./config.yaml` when it exists. */
  configFile?: string;
  /** Explicit secrets file; else `OPENCLAW_SECRETS_FILE`; else `secrets.yaml` beside the config file. */
  secretsFile?: string;
  /** Environment to read; pass `process.env` from main, never read at import time. */
  env?: Record<string, string | undefined>;
  /** Raw flag values by long flag name, e.g. `{ "--port": "9000" }`. */
  flags?: Record<string, unknown>;
  /** Which service is loading: decides what `--port` means. */
  service?: string;
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Files that were read, for the startup log line. */
  files: { config?: string; secrets?: string };
}

/** Settings whose values never appear in an error line. */
const SECRETS = new Set([
  "communication.nats_password",
  "communication.nats_token",
  "coordinator.api_keys",
  "coordinator.read_api_keys",
]);

/** Thrown with one line per bad field: path, value, where it came from, what is allowed. */
export class ConfigError extends OcError {
  readonly lines: string[];
  constructor(lines: string[], code: "OC-1001" | "OC-1002" = "OC-1001") {
    super(code, lines.join("\n"));
    this.lines = lines;
  }
}

function readStructured(path: string, what: string): Layer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      [`${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`],
      "OC-1002",
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0];
    throw new ConfigError([`${what} ${path}: not valid YAML or JSON: ${msg}`], "OC-1002");
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError([
      `${what} ${path}: expected a mapping of sections (storage, coordinator, worker, ...)`,
    ]);
  }
  return doc as Layer;
}

function setPath(layer: Layer, path: string, value: unknown): void {
  const [section, key] = path.split(".") as [string, string];
  layer[section] ??= {};
  (layer[section] as Section)[key] = value;
}

/**
 * Builds the configuration of one process: defaults < config file < secrets file < environment
 * < flags. Pure apart from reading the two files; returns a frozen object or throws ConfigError.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  const layers: { layer: Layer; source: (path: string) => string }[] = [];
  const files: LoadedConfig["files"] = {};

  const explicit = options.configFile ?? env[FILE_ENV.config];
  const configPath = explicit ? resolve(cwd, explicit) : resolve(cwd, "config.yaml");
  if (explicit || existsSync(configPath)) {
    layers.push({ layer: readStructured(configPath, "config file"), source: () => configPath });
    files.config = configPath;
  }

  const explicitSecrets = options.secretsFile ?? env[FILE_ENV.secrets];
  const secretsPath = explicitSecrets
    ? resolve(cwd, explicitSecrets)
    : join(files.config ? dirname(files.config) : cwd, "secrets.yaml");
  if (explicitSecrets || existsSync(secretsPath)) {
    layers.push({ layer: readStructured(secretsPath, "secrets file"), source: () => secretsPath });
    files.secrets = secretsPath;
  }

  const envLayer: Layer = {};
  const envSource = new Map<string, string>();
  for (const s of SETTING_SOURCES) {
    const value = s.env ? env[s.env] : undefined;
    if (s.env && value !== undefined && value !== "") {
      setPath(envLayer, s.path, value);
      envSource.set(s.path, `env ${s.env}`);
    }
  }
  layers.push({ layer: envLayer, source: (p) => envSource.get(p) ?? "env" });

  const flagLayer: Layer = {};
  const flagSource = new Map<string, string>();
  const bad: string[] = [];
  for (const [flag, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    const path = flagPath(flag, options.service ?? "");
    if (!path) {
      bad.push(`${flag}: not a configuration flag`);
      continue;
    }
    setPath(flagLayer, path, value);
    flagSource.set(path, flag);
  }
  if (bad.length > 0) throw new ConfigError(bad);
  layers.push({ layer: flagLayer, source: (p) => flagSource.get(p) ?? "flag" });

  // Merge key by key (the config is two levels deep: section.key), remembering each value's source.
  const merged: Layer = {};
  const origin = new Map<string, string>();
  for (const { layer, source } of layers) {
    for (const [section, values] of Object.entries(layer)) {
      if (values === null || typeof values !== "object" || Array.isArray(values)) {
        merged[section] = values as Section;
        origin.set(section, source(section));
        continue;
      }
      merged[section] = { ...(merged[section] ?? {}), ...values };
      for (const key of Object.keys(values)) origin.set(`${section}.${key}`, source(`${section}.${key}`));
    }
  }

  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String).join(".");
      if (issue.code === "unrecognized_keys") {
        const where = path === "" ? "top level" : path;
        const from = originOf(origin, path === "" ? `${issue.keys[0]}` : `${path}.${issue.keys[0]}`);
        return `${where}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}${from ? ` (in ${from})` : ""}`;
      }
      const [section, key] = path.split(".");
      const value = key !== undefined ? merged[section as string]?.[key] : merged[section as string];
      // An item of a list (`coordinator.api_keys.0`) comes from where its list did.
      const from = origin.get(path) ?? origin.get(`${section}.${key}`);
      const shown =
        value === undefined
          ? "(missing)"
          : SECRETS.has(`${section}.${key}`)
            ? "(hidden)"
            : JSON.stringify(value);
      return `${path || "(root)"} = ${shown}${from ? ` (from ${from})` : ""}: ${issue.message}`;
    });
    throw new ConfigError(lines);
  }
  return { config: deepFreeze(result.data), files };
}

/**
 * Where the value at `path` came from: its own source, else its nearest enclosing one's (a key
 * of `worker.labels` comes from where `worker.labels` did), else a key beneath it's (an unknown
 * section `foo` from where `foo.bar` did).
 */
function originOf(origin: Map<string, string>, path: string): string | undefined {
  for (let p = path; p !== ""; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
    const from = origin.get(p);
    if (from !== undefined) return from;
  }
  return [...origin.entries()].find(([k]) => k.startsWith(`${path}.`))?.[1];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
