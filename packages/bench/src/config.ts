import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, loadConfig } from "@openclaw/config";

/**
 * The configuration our services run with in a bench cluster: the product's defaults, then the
 * environment they inherit (this process's) and the bench's own `env` on top, as `oclaw` reads it
 * (from an empty working dir, as the services' own: no config file).
 */
export function effectiveConfig(env: Record<string, string> = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), "oc-bench-config-"));
  try {
    return loadConfig({ env: { ...process.env, ...env }, cwd: dir }).config;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `1500` → `1.5 s`, `90000` → `90 s`, `500` → `500 ms`. */
export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(2))} s`;
}
