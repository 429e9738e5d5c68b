import { resolve } from "node:path";
import { ConfigSchema } from "@openclaw/config";
import { type Logger, silentLogger } from "@openclaw/log";
import { OcError, type SkillInfo } from "@openclaw/protocol";
import { type SkillContext, throttleProgress } from "../context.js";
import { readSkillFolder } from "../skills.js";
import { ModulePool } from "./module-runner.js";
import { checkResult, failure, type Outcome } from "./outcome.js";
import { resolveRun } from "./resolve.js";
import { runSkill } from "./run-skill.js";

/** What a local run tells its caller, and what its ctx holds besides the input. */
export interface RunOnceHooks {
  /** Aborting it cancels the run: `ctx.signal` fires in a module skill, a command gets SIGTERM. */
  signal?: AbortSignal;
  /** `ctx.lastCheckpoint` (a command's `checkpoint` on stdin): resume from it. */
  lastCheckpoint?: unknown;
  /** Each progress value, throttled as on a worker (about 4 a second; 100 always comes). */
  onProgress?(percent: number, message: string): void;
  /** Each checkpoint the skill saves, as JSON keeps it. */
  onCheckpoint?(data: unknown): void;
  /** `ctx.log` (with `task_id` and `attempt`), and a command's other stderr lines at debug level. */
  log?: Logger;
  /** @default "local-<time>" */
  taskId?: string;
  /** @default 1 */
  attempt?: number;
  /** @default "local" */
  nodeId?: string;
  /** `ctx.config.allowedCommands`. @default worker.allowed_commands's default (none) */
  allowedCommands?: readonly string[];
  /** @default tasks.max_result_bytes's default */
  maxResultBytes?: number;
  /** After SIGTERM, how long a command gets before SIGKILL. @default 3000 */
  killGraceMs?: number;
  /** The environment variables a command skill sees. @default worker.skill_env's default */
  skillEnv?: readonly string[];
}

export interface RunOnceResult {
  /** What the worker would announce for the folder. */
  skill: SkillInfo;
  /** The result (checked as a worker checks it: JSON within maxResultBytes), or the error. */
  outcome: Outcome;
  /** The last checkpoint saved during the run, else the one it started from. */
  lastCheckpoint: unknown;
  durationMs: number;
}

/**
 * Runs the skill in folder `dir` once, in this process, as a worker would run it for a task with
 * `input` as its payload: the same way of finding how it runs, the same module threads and command
 * runner, a ctx with the same progress and checkpoint calls. Nothing is sent anywhere: progress and
 * checkpoints go to the hooks. Throws OC-3001 when the folder is not a skill (SKILL.md missing or
 * invalid); otherwise never throws, a failed run is `outcome.ok === false`.
 */
export async function runSkillOnce(
  dir: string,
  input: unknown,
  hooks: RunOnceHooks = {},
): Promise<RunOnceResult> {
  const read = await readSkillFolder(resolve(dir));
  if (!read.ok) throw new OcError("OC-3001", `${read.problem.file}: ${read.problem.message}`);
  const { skill, location } = read;
  const defaults = ConfigSchema.parse({});
  const taskId = hooks.taskId ?? `local-${Date.now()}`;
  const attempt = hooks.attempt ?? 1;
  const log = (hooks.log ?? silentLogger()).child({ task_id: taskId, attempt });
  const signal = hooks.signal ?? new AbortController().signal;
  let lastCheckpoint = hooks.lastCheckpoint;
  const progress = throttleProgress((p) => hooks.onProgress?.(p.percent, p.message));
  let closed = false;
  const ctx: SkillContext = {
    taskId,
    attempt,
    nodeId: hooks.nodeId ?? "local",
    payload: input,
    signal,
    lastCheckpoint: hooks.lastCheckpoint,
    log,
    config: { allowedCommands: hooks.allowedCommands ?? defaults.worker.allowed_commands },
    progress: progress.progress,
    checkpoint(data) {
      if (closed) return Promise.resolve();
      // Stored as JSON, as on a worker: a value JSON cannot hold fails the call.
      let stored: unknown;
      try {
        stored = JSON.parse(JSON.stringify(data ?? null));
      } catch (err) {
        return Promise.reject(err);
      }
      lastCheckpoint = stored;
      hooks.onCheckpoint?.(stored);
      return Promise.resolve();
    },
  };
  const modules = new ModulePool({ maxThreads: 1, attemptsPerThread: 1, log });
  const maxResultBytes = hooks.maxResultBytes ?? defaults.tasks.max_result_bytes;
  const began = performance.now();
  let outcome: Outcome;
  try {
    const how = await resolveRun(skill.name, location);
    outcome = await runSkill({
      how,
      ctx,
      modules,
      maxResultBytes,
      killGraceMs: hooks.killGraceMs ?? 3000,
      skillEnv: hooks.skillEnv ?? defaults.worker.skill_env,
    });
  } catch (err) {
    outcome = failure("OC-5000", `running the skill failed: ${(err as Error).message}`, true);
  } finally {
    closed = true;
    progress.close();
    await modules.close();
  }
  if (outcome.ok) outcome = checkResult(outcome.result, maxResultBytes);
  return { skill, outcome, lastCheckpoint, durationMs: Math.round(performance.now() - began) };
}
