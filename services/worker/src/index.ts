/**
 * The worker service: one per machine. Announces its skills and capacity, heartbeats with its
 * load, runs the tasks dispatched to it (JS/TS module or command skills), and leaves cleanly on stop.
 *
 * ```ts
 * const worker = await startWorker(ctx); // reads config.worker.skills_dir
 * await worker.stop("shutdown");
 * ```
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
export {
  checkSkillsDir,
  parseSkillMd,
  SkillFrontMatter,
  SkillJson,
  type SkillLocation,
  type SkillProblem,
  type SkillScan,
  scanSkills,
} from "./skills.js";
export { startWorker, type Worker } from "./worker.js";
