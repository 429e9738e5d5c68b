import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { pathToFileURL } from "node:url";
import { type NamespacedUnregister, register } from "tsx/esm/api";
import { failure, type Outcome, thrown } from "./outcome.js";

/** What a module skill exports: `run(input, ctx)`, or a default function. */
export type SkillFunction = (input: unknown, ctx: never) => unknown;

/** tsx's loader, registered once (in its own namespace) when the first TypeScript skill loads. */
let tsx: NamespacedUnregister | undefined;

/**
 * Imports a skill module afresh whenever its file changes: the URL carries the file's mtime, so
 * an edited skill is a new module while an unchanged one comes from the import cache.
 */
async function load(file: string): Promise<Record<string, unknown>> {
  const { mtimeMs } = await stat(file);
  const url = `${pathToFileURL(file).href}?v=${mtimeMs}`;
  if (/\.[cm]?ts$/.test(file)) {
    tsx ??= register({ namespace: "openclaw-skills" });
    return (await tsx.import(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** `run`, else a default function, else a CommonJS module's `run`. */
function pick(mod: Record<string, unknown>): SkillFunction | undefined {
  const dflt = mod.default as Record<string, unknown> | ((...a: unknown[]) => unknown) | undefined;
  const candidates = [mod.run, dflt, typeof dflt === "object" && dflt !== null ? dflt.run : undefined];
  return candidates.find((c): c is SkillFunction => typeof c === "function");
}

/**
 * Runs a module skill in this process. Settles when `run` settles, or at once when `signal`
 * aborts: a skill that ignores its signal is left to finish on its own and its outcome dropped.
 * A load failure (syntax error, a throwing top level) is OC-6001; no function to call is OC-6008.
 */
export async function runModule(
  file: string,
  input: unknown,
  ctx: unknown,
  signal: AbortSignal,
): Promise<Outcome> {
  const aborted = failure("OC-6005", "aborted", false);
  if (signal.aborted) return aborted;
  let onAbort: () => void = () => undefined;
  const stop = new Promise<Outcome>((resolve) => {
    onAbort = () => resolve(aborted);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  const run = (async (): Promise<Outcome> => {
    let fn: SkillFunction | undefined;
    try {
      fn = pick(await load(file));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return failure("OC-6001", `cannot load ${basename(file)}: ${message}`, false);
    }
    if (!fn)
      return failure("OC-6008", `${file} exports no run(input, ctx) function and no default function`, false);
    if (signal.aborted) return aborted;
    try {
      return { ok: true, result: await fn(input, ctx as never) };
    } catch (err) {
      return thrown(err);
    }
  })();
  try {
    return await Promise.race([run, stop]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
