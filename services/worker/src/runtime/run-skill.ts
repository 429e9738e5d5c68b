import { errorMessage } from "@openclaw/bus";
import type { SkillContext } from "../context.js";
import { runCommand } from "./command-runner.js";
import type { ModulePool } from "./module-runner.js";
import { failure, type Outcome } from "./outcome.js";
import type { HowToRun } from "./resolve.js";

export interface RunSkillOptions {
  how: HowToRun;
  ctx: SkillContext;
  /** The threads module skills run in. */
  modules: ModulePool;
  /** Stdout of a command beyond this is OC-6007 without being read further. */
  maxResultBytes: number;
  /** After SIGTERM, how long a command gets before SIGKILL. */
  killGraceMs: number;
}

/** Credentials of the worker's own NATS connection stay out of a command's environment. */
const HIDDEN_ENV = ["NATS_USER", "NATS_PASSWORD", "NATS_TOKEN"];

function commandEnv(ctx: SkillContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of HIDDEN_ENV) delete env[k];
  env.OPENCLAW_TASK_ID = ctx.taskId;
  env.OPENCLAW_ATTEMPT = String(ctx.attempt);
  return env;
}

/** Runs the skill the way its folder says; the outcome is the skill's, before size checks. */
export function runSkill(o: RunSkillOptions): Promise<Outcome> {
  const { how, ctx } = o;
  if (ctx.signal.aborted) return Promise.resolve(failure("OC-6005", "aborted before it started", false));
  switch (how.kind) {
    case "missing":
      return Promise.resolve(failure("OC-6006", how.message, true));
    case "none":
      return Promise.resolve(failure("OC-6008", how.message, false));
    case "module":
      return o.modules.run(how.file, ctx);
    case "command":
      return runCommand({
        argv: how.argv,
        cwd: how.cwd,
        input: {
          task_id: ctx.taskId,
          attempt: ctx.attempt,
          payload: ctx.payload ?? null,
          checkpoint: ctx.lastCheckpoint ?? null,
        },
        env: commandEnv(ctx),
        signal: ctx.signal,
        maxStdoutBytes: o.maxResultBytes,
        killGraceMs: o.killGraceMs,
        log: ctx.log,
        onProgress: (percent, message) => ctx.progress(percent, message),
        onCheckpoint: (data) => {
          ctx
            .checkpoint(data)
            .catch((err: unknown) => ctx.log.warn({ error: errorMessage(err) }, "checkpoint failed"));
        },
      });
    default: {
      const never: never = how;
      return Promise.resolve(failure("OC-5000", `unknown way to run: ${JSON.stringify(never)}`, false));
    }
  }
}
