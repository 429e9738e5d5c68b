import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { resolve } from "node:path";

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** "exit code 1", "killed by SIGKILL". */
export function describeExit(status: ExitStatus): string {
  if (status.signal) return `killed by ${status.signal}`;
  if (status.code !== null) return `exit code ${status.code}`;
  return "exited";
}

/**
 * Resolves when the child has exited, at once when it already has. A child killed by a signal
 * has `exitCode === null` but `signalCode` set, and its `exit` event has already fired: checking
 * `exitCode` alone and then waiting for `exit` waits forever. Call it at spawn time and keep the
 * promise.
 */
export function exited(child: ChildProcess): Promise<ExitStatus> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((done) => {
    child.once("exit", (code, signal) => done({ code, signal }));
    // A process that could not be spawned at all emits `error` and never `exit`.
    child.once("error", () => {
      if (child.pid === undefined) done({ code: null, signal: null });
    });
  });
}

/** A process `up` looks after: a service it spawned, or the nats-server it started or adopted. */
export interface Supervised {
  readonly name: string;
  readonly pid: number;
  /** Resolves once, when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  running(): boolean;
  /** Sends a signal; a process already gone is not an error. */
  kill(signal: NodeJS.Signals): void;
}

/** Wraps a child process, creating its `exited` promise now (before the exit can be missed). */
export function supervise(name: string, child: ChildProcess): Supervised {
  const done = exited(child);
  return {
    name,
    pid: child.pid ?? -1,
    exited: done,
    running: () => child.exitCode === null && child.signalCode === null && child.pid !== undefined,
    kill: (signal) => {
      child.kill(signal);
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function terminate(proc: Supervised, graceMs: number): Promise<ExitStatus> {
  if (!proc.running()) return proc.exited;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

export interface SupervisorOptions {
  /** Each service's stdout and stderr are appended to `<logDir>/<name>.log`. */
  logDir: string;
  env: NodeJS.ProcessEnv;
  /** Each complete stdout line of a service. */
  onLine(name: string, line: string): void;
  /** Each stderr chunk of a service. */
  onStderr(name: string, text: string): void;
}

/** Spawns services as child processes, relays their logs, and stops them in reverse start order. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #procs: Supervised[] = [];
  readonly #logsClosed: Promise<void>[] = [];

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  logFile(name: string): string {
    return resolve(this.#options.logDir, `${name}.log`);
  }

  get processes(): readonly Supervised[] {
    return this.#procs;
  }

  spawn(name: string, command: string, args: string[]): Supervised {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      // Own process group, so a terminal's Ctrl+C reaches only the supervisor, which stops
      // the services one by one in order.
      detached: true,
      env: this.#options.env,
    });
    const proc = supervise(name, child);
    this.#procs.push(proc);

    const file = createWriteStream(this.logFile(name), { flags: "a" });
    this.#logsClosed.push(new Promise((r) => file.once("close", () => r())));
    file.on("error", () => undefined);
    child.stderr?.on("data", (d: Buffer) => {
      file.write(d);
      this.#options.onStderr(name, d.toString());
    });
    let partial = "";
    child.stdout?.on("data", (d: Buffer) => {
      file.write(d);
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) this.#options.onLine(name, line);
    });
    // `close` comes after `exit`, once the pipes are drained.
    child.once("close", () => {
      if (partial !== "") this.#options.onLine(name, partial);
      file.end();
    });
    child.once("error", () => file.end());
    return proc;
  }

  /**
   * Stops every running service: one by one in reverse start order (so workers leave while the
   * rest still runs), or all at once with `parallel` (when NATS is gone, order buys nothing).
   */
  async stopAll(options: {
    graceMs: number;
    parallel?: boolean;
    onStopped?: (proc: Supervised, status: ExitStatus) => void;
  }): Promise<void> {
    const stopOne = async (proc: Supervised) => {
      if (!proc.running()) return;
      const status = await terminate(proc, options.graceMs);
      options.onStopped?.(proc, status);
    };
    const order = [...this.#procs].reverse();
    if (options.parallel) {
      await Promise.all(order.map(stopOne));
      return;
    }
    for (const proc of order) await stopOne(proc);
  }

  /** SIGKILLs every service still running. */
  killAll(): void {
    for (const proc of this.#procs) if (proc.running()) proc.kill("SIGKILL");
  }

  /** Resolves when every log file is written out, or after `timeoutMs`. */
  async logsWritten(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.#logsClosed),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}
