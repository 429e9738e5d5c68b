import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { SkillLocation } from "../skills.js";
import { statCached } from "./stat-cache.js";

/** How to run a skill, worked out from its folder when a task arrives. */
export type HowToRun =
  | { kind: "module"; file: string }
  | { kind: "command"; argv: string[]; cwd: string }
  | { kind: "missing"; message: string }
  | { kind: "none"; message: string };

/** Looked for, in this order, when the manifest declares neither `entry` nor `command`. */
export const MODULE_FILES = ["index.mjs", "index.js", "index.ts"] as const;
export const COMMAND_FILE = "run";

async function isFile(path: string): Promise<boolean> {
  return (await statCached(path).catch(() => undefined))?.isFile() ?? false;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * `entry` (a module file) or `command` from SKILL.md / skill.json; else `index.mjs`, `index.js`,
 * `index.ts`; else an executable `run`. `missing` when the folder is gone (OC-6006), `none` when
 * nothing can run it (OC-6008).
 */
export async function resolveRun(name: string, location: SkillLocation | undefined): Promise<HowToRun> {
  if (!location || !(await statCached(location.dir).catch(() => undefined))?.isDirectory()) {
    return { kind: "missing", message: `this node has no skill '${name}'` };
  }
  const { dir } = location;
  if (location.entry !== undefined) {
    const file = resolve(dir, location.entry);
    if (await isFile(file)) return { kind: "module", file };
    return { kind: "none", message: `skill '${name}': entry '${location.entry}' is not a file in ${dir}` };
  }
  if (location.command !== undefined) {
    const [program, ...args] = location.command as [string, ...string[]];
    // A path is taken from the skill folder; a bare name is looked up on PATH.
    return {
      kind: "command",
      argv: [program.includes("/") ? resolve(dir, program) : program, ...args],
      cwd: dir,
    };
  }
  for (const f of MODULE_FILES) {
    if (await isFile(join(dir, f))) return { kind: "module", file: join(dir, f) };
  }
  const run = join(dir, COMMAND_FILE);
  if (await isFile(run)) {
    if (await isExecutable(run)) return { kind: "command", argv: [run], cwd: dir };
    return { kind: "none", message: `skill '${name}': ${run} is not executable (chmod +x it)` };
  }
  return {
    kind: "none",
    message:
      `skill '${name}' has no way to run it: no entry or command in SKILL.md or skill.json, ` +
      `no ${MODULE_FILES.join(", ")} and no executable '${COMMAND_FILE}' in ${dir}`,
  };
}
