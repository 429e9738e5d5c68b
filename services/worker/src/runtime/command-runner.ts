import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "@openclaw/log";
import { failure, type Outcome } from "./outcome.js";

export interface CommandOptions {
  argv: string[];
  cwd: string;
  /** Written to stdin as JSON, then stdin is closed. */
  input: unknown;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Stdout beyond this many bytes is OC-6007. */
  maxStdoutBytes: number;
  /** After SIGTERM, how long before SIGKILL. @default 3000 */
  killGraceMs?: number;
  onProgress(percent: number, message: string): void;
  onCheckpoint(data: unknown): void;
  log: Logger;
}

/** The end of stderr kept for OC-6002's message. */
const STDERR_TAIL = 2048;
/** A stderr line longer than this is cut (a checkpoint must fit). */
const MAX_LINE = 4 * 1024 * 1024;
/** After the process exits, how long its output pipes may stay open (held by a child of its own). */
const CLOSE_GRACE_MS = 1000;

const PROGRESS = /^::progress\s+(-?\d+(?:\.\d+)?)%?(?:\s+(.*))?$/;
const CHECKPOINT = /^::checkpoint\s+(.*)$/;

/**
 * Runs a command skill: the task JSON on stdin, one JSON value on stdout, `::progress` and
 * `::checkpoint` lines on stderr. The command leads its own process group, so an abort reaches
 * whatever it started: SIGTERM, then SIGKILL after the grace. Never rejects.
 */
export function runCommand(o: CommandOptions): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const [program, ...args] = o.argv as [string, ...string[]];
    let child: ChildProcess;
    try {
      child = spawn(program, args, {
        cwd: o.cwd,
        env: o.env,
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
    } catch (err) {
      resolve(failure("OC-6008", `cannot start '${program}': ${(err as Error).message}`, true));
      return;
    }
    const timers: NodeJS.Timeout[] = [];
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let overflow = false;
    let tail = "";
    let partial = "";
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let done = false;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        try {
          child.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    const onAbort = () => {
      killGroup("SIGTERM");
      timers.push(setTimeout(() => killGroup("SIGKILL"), o.killGraceMs ?? 3000));
    };

    const line = (text: string) => {
      const p = PROGRESS.exec(text);
      if (p) return o.onProgress(Number(p[1]), p[2] ?? "");
      const c = CHECKPOINT.exec(text);
      if (c) {
        try {
          return o.onCheckpoint(JSON.parse(c[1] as string));
        } catch {
          o.log.warn(
            { line: text.slice(0, 200) },
            "skill printed a ::checkpoint line that is not JSON; ignored",
          );
          return;
        }
      }
      if (text.trim() === "") return;
      o.log.debug({ stderr: text.slice(0, 2000) }, "skill stderr");
      tail = `${tail}${text}\n`.slice(-STDERR_TAIL);
    };

    child.stdout?.on("data", (chunk: Buffer) => {
      if (overflow) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > o.maxStdoutBytes) {
        overflow = true;
        stdout.length = 0;
      } else stdout.push(chunk);
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) line(l.replace(/\r$/, ""));
      if (partial.length > MAX_LINE) {
        line(partial);
        partial = "";
      }
    });
    // A command that never reads stdin, or exits early, closes the pipe under us: not an error.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(JSON.stringify(o.input));

    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      o.signal.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const settle = () => {
      if (partial !== "") line(partial);
      partial = "";
      finish(outcomeOf());
    };
    const outcomeOf = (): Outcome => {
      if (o.signal.aborted) return failure("OC-6005", "aborted", false);
      const stderr = tail.trim() === "" ? "" : `; stderr: ${tail.trim()}`;
      if (exit?.code !== 0) {
        const how =
          exit?.code != null
            ? `exited with code ${exit.code}`
            : `was killed by ${exit?.signal ?? "a signal"}`;
        return failure("OC-6002", `command '${program}' ${how}${stderr}`, true);
      }
      if (overflow) {
        return failure(
          "OC-6007",
          `stdout is larger than tasks.max_result_bytes (${o.maxStdoutBytes} bytes)`,
          false,
        );
      }
      const text = Buffer.concat(stdout).toString("utf8").trim();
      if (text === "")
        return failure("OC-6003", `command '${program}' printed nothing on stdout${stderr}`, false);
      try {
        return { ok: true, result: JSON.parse(text) as unknown };
      } catch {
        const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
        return failure("OC-6003", `command '${program}' printed stdout that is not JSON: ${shown}`, false);
      }
    };

    child.on("error", (err) => {
      // Spawning failed (ENOENT, EACCES): there is no process to wait for.
      if (child.pid === undefined) {
        finish(failure("OC-6008", `cannot start '${program}': ${err.message}`, true));
      }
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Output pipes held open by a grandchild must not keep the attempt alive.
      timers.push(
        setTimeout(() => {
          killGroup("SIGKILL");
          child.stdout?.destroy();
          child.stderr?.destroy();
          settle();
        }, CLOSE_GRACE_MS),
      );
    });
    child.on("close", (code, signal) => {
      if (child.pid === undefined) return; // never started: the error handler answered
      exit ??= { code, signal };
      settle();
    });
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener("abort", onAbort, { once: true });
  });
}
