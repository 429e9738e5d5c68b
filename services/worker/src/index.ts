/**
 * The worker service: one per machine. Announces its skills and capacity, heartbeats with its
 * load, and leaves cleanly on stop.
 *
 * ```ts
 * const worker = await startWorker(ctx); // reads config.worker.skills_dir
 * await worker.stop("shutdown");
 * ```
 */
export { isTailscaleIp, MachineLoad, machineAddresses } from "./machine.js";
export {
  parseSkillMd,
  SkillFrontMatter,
  SkillJson,
  type SkillProblem,
  type SkillScan,
  scanSkills,
} from "./skills.js";
export { startWorker, type Worker } from "./worker.js";
