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
  /**
   * `worker.skill_env`: the worker's environment variables a command skill sees (names, or a
   * prefix ending in `*`).
   */
  skillEnv: readonly string[];
}

/** Credentials of the worker's own NATS connection never reach a command, even when listed. */
const HIDDEN_ENV = new Set(["NATS_USER", "NATS_PASSWORD", "NATS_TOKEN"]);

/** A NATS URL list without credentials: `nats://user:pass@host:4222` → `nats://host:4222`. */
export function withoutUserinfo(urls: string): string {
  return (
    urls
      .split(",")
      // Up to the last @ before the path: a password may hold an unencoded @.
      .map((u) => u.replace(/^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)[^/\s]*@/, "$1"))
      .join(",")
  );
}

/**
 * A command skill's environment: only the worker's variables that `worker.skill_env` names
 * (hardening item 9: commands saw everything, `OPENCLAW_API_KEYS` from a shared systemd
 * environment file included), NATS credentials never and NATS_URL without its userinfo, plus
 * OPENCLAW_TASK_ID and OPENCLAW_ATTEMPT.
 */
export function commandEnv(
  ctx: Pick<SkillContext, "taskId" | "attempt">,
  allow: readonly string[],
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const names = new Set(allow.filter((a) => !a.endsWith("*")));
  const prefixes = allow.filter((a) => a.endsWith("*")).map((a) => a.slice(0, -1));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined || HIDDEN_ENV.has(k)) continue;
    if (names.has(k) || prefixes.some((p) => k.startsWith(p)))
      env[k] = k === "NATS_URL" ? withoutUserinfo(v) : v;
  }
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
        env: commandEnv(ctx, o.skillEnv),
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
