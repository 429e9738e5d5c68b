/**
 * The worker service: one per machine. Announces its skills and capacity, heartbeats with its
 * load, runs the tasks dispatched to it (JS/TS module or command skills), and leaves cleanly on stop.
 *
 * ```ts
 * const worker = await startWorker(ctx); // reads config.worker.skills_dir
 * await worker.stop("shutdown");
 * ```
 *
 * `runSkillOnce(dir, input, hooks)` runs one skill folder in this process, without a cluster, as a
 * worker would run it for a task (what `oclaw skill run` does).
 *
 * A TypeScript skill types its context with `SkillContext`:
 *
 * ```ts
 * import type { SkillContext } from "@openclaw/worker";
 * export async function run(input: { ms: number }, ctx: SkillContext) { ... }
 * ```
 */
export type { SkillContext } from "./context.js";
export { isTailscaleIp, MachineLoad, machineAddresses } from "./machine.js";
export type { Outcome } from "./runtime/outcome.js";
export { type RunOnceHooks, type RunOnceResult, runSkillOnce } from "./runtime/run-once.js";
export {
  checkSkillsDir,
  parseSkillMd,
  readSkillFolder,
  SkillFrontMatter,
  SkillJson,
  type SkillLocation,
  type SkillProblem,
  type SkillScan,
  scanSkills,
} from "./skills.js";
export { startWorker, type Worker } from "./worker.js";
