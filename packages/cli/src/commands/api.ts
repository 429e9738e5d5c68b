import type { Config } from "@openclaw/config";
import type { Command } from "commander";
import { ApiClient, ApiError, apiBaseUrl, UnreachableError } from "../api-client.js";
import { type Colors, colorsFor, NO_COLORS } from "../render.js";
import { EXIT, loadServiceConfig } from "./service.js";

/** The flags of every command that talks to the coordinator's HTTP API. */
export interface ApiOptions {
  config?: string;
  secrets?: string;
  apiUrl?: string;
  apiKey?: string;
  json?: boolean;
}

export interface ApiRun {
  api: ApiClient;
  config: Config;
  /** Colours for stdout (off when it is not a terminal, or with --json). */
  c: Colors;
  /** Colours for stderr. */
  ec: Colors;
}

export function apiFlags(cmd: Command): Command {
  return cmd
    .option("--json", "print JSON for scripts")
    .option(
      "--api-url <url>",
      "the coordinator's API (default: OPENCLAW_API_URL, else the cluster `oclaw up` runs here, else this machine's configured port)",
    )
    .option("--api-key <key>", "API key (default: OPENCLAW_API_KEY)")
    .option("-c, --config <file>", "config file; default ./config.yaml if present")
    .option("--secrets <file>", "secrets file");
}

/** Exit code and one line for an error: usage errors (a bad filter, a malformed id) exit 2. */
function describe(err: unknown): { code: number; line: string } {
  if (err instanceof ApiError) {
    const code = err.status === 400 ? EXIT.usage : EXIT.failed;
    const hint = err.status === 401 || err.status === 403 ? " (pass --api-key, or set OPENCLAW_API_KEY)" : "";
    return { code, line: `${err.code ? `[${err.code}] ` : ""}${err.message}${hint}` };
  }
  if (err instanceof UnreachableError) return { code: EXIT.failed, line: err.message };
  return { code: EXIT.failed, line: (err as Error).message };
}

/** Loads the configuration, runs `fn` against the API and exits with its code (or the error's). */
export async function withApi(
  command: string,
  o: ApiOptions,
  fn: (run: ApiRun) => Promise<number>,
): Promise<void> {
  const config = loadServiceConfig(
    "coordinator",
    { config: o.config, secrets: o.secrets, apiUrl: o.apiUrl },
    command,
  );
  const api = new ApiClient(apiBaseUrl(o, config), o.apiKey);
  const run: ApiRun = {
    api,
    config,
    c: o.json ? NO_COLORS : colorsFor(process.stdout),
    ec: colorsFor(process.stderr),
  };
  let code: number;
  try {
    code = await fn(run);
  } catch (err) {
    const { code: exit, line } = describe(err);
    process.stderr.write(`${run.ec.red(`oclaw ${command}:`)} ${line}\n`);
    code = exit;
  }
  process.exit(code);
}

/** Prints `value` as one line of JSON. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A path segment from user input (ids are checked by the API, but must not change the path). */
export const seg = (s: string) => encodeURIComponent(s);
