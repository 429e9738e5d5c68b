import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { StopWaiting, waitFor } from "./wait.js";

/** The built `oclaw` entry point of this repository. */
export const OCLAW_BIN = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url));

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Parsed JSON log lines so far (stdout); non-JSON lines are kept as `{ raw }`. */
  readonly logs: Record<string, unknown>[];
  /** Everything written to stderr. */
  stderr(): string;
  /** What was written to stdout, as text (its last megabyte): for commands that print tables. */
  stdout(): string;
  /** Resolves with the first log line matching, waiting up to `timeout`. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeout?: number,
  ): Promise<Record<string, unknown>>;
  /** Sends a signal and waits for the exit; resolves with the exit code (or signal name). */
  signal(sig: NodeJS.Signals, timeout?: number): Promise<number | string>;
  /** Sends `sig` and returns at once (SIGSTOP, SIGCONT, or a SIGTERM whose effects are watched). */
  kill(sig: NodeJS.Signals): void;
  /** Resolves when the process has exited and its output is read, with its code or signal. */
  exited(): Promise<number | string>;
  /** The exit code (or signal), or "still running" after `ms`, in which case the process is stopped. */
  exitWithin(ms: number): Promise<number | string>;
  /** SIGTERM, then SIGKILL after a grace period. Safe to call twice. */
  stop(): Promise<void>;
}

/** Characters of a child's stdout kept as text (a worker logs every task). */
const STDOUT_KEPT = 1 << 20;

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Runs `oclaw <args>` as a child process (a real separate service process). */
export function spawnOclaw(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): ServiceProcess {
  const child = spawn(process.execPath, [OCLAW_BIN, ...args], {
    cwd: options.cwd,
    // A service exits once this process is gone, even if it dies too hard to stop its children
    // (a test runner killed at its timeout): no orphan keeps loading the machine.
    env: { OCLAW_SUPERVISOR_PID: String(process.pid), ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const logs: Record<string, unknown>[] = [];
  let err = "";
  let out = "";
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.length > STDOUT_KEPT) out = out.slice(-STDOUT_KEPT);
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  let closed = false;
  // Resolves on `close` (every line the process wrote has been read), or a second after `exit`
  // should something else hold its pipes open.
  const exit = new Promise<number | string>((resolve) => {
    child.once("close", (code, sig) => {
      closed = true;
      resolve(code ?? sig ?? "unknown");
    });
    child.once("exit", (code, sig) => {
      children.delete(child);
      setTimeout(() => resolve(code ?? sig ?? "unknown"), 1000).unref();
    });
  });
  const proc: ServiceProcess = {
    child,
    pid: child.pid ?? -1,
    logs,
    stderr: () => err,
    stdout: () => out,
    waitForLog: (match, timeout = 10_000) =>
      waitFor(
        () => {
          const found = logs.find(match);
          // After `close`, not `exit`: by then every line the process wrote has been read.
          if (!found && closed) {
            throw new StopWaiting(
              `process exited (${child.exitCode ?? child.signalCode}) before the log line (args: ${args.join(" ")}): ${err.slice(-2000)}`,
            );
          }
          return found;
        },
        { timeout, message: `log line not seen (args: ${args.join(" ")})` },
      ),
    async signal(sig, timeout = 15_000) {
      child.kill(sig);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
    kill: (sig) => {
      child.kill(sig);
    },
    exited: () => exit,
    async exitWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        exit,
        new Promise<string>((r) => {
          timer = setTimeout(() => r("still running"), ms);
        }),
      ]);
      clearTimeout(timer);
      if (result === "still running") await proc.stop();
      return result;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) await proc.signal("SIGTERM", 10_000);
    },
  };
  return proc;
}
