import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../src/index.js";

/** A fresh empty folder to load configuration in (no config.yaml there unless a test writes one). */
export function tempCwd(): string {
  return mkdtempSync(join(tmpdir(), "oc-config-"));
}

/** The lines of the ConfigError `fn` throws; fails if it throws nothing or something else. */
export function errorLines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.lines;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
