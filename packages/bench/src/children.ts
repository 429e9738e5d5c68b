import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ChildReport, STOP } from "./child-protocol.js";
import { type Cleanup, isRunning, stopChild, trackChild } from "./cleanup.js";
import { sleep } from "./clock.js";

/** A script of this package's `dist/`, run as a child process with `node` (like a real deployment). */
export function childScript(name: "bullmq-worker" | "js-consumer" | "sim-nodes"): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/**
 * Baseline worker processes (BullMQ workers, JetStream consumers) and what they reported: the
 * completions of all of them together, the time of the latest, and latency samples.
 */
export class ChildGroup {
  readonly children: ChildProcess[] = [];
  count = 0;
  /** The time (clock.now) of the latest completion any child reported. */
  last = 0;
  samples: [number, number][] = [];
  #failure: string | undefined;
  #stopping = false;

  /**
   * Starts `n` copies of `script` with `args` (or `args(i)` for the i-th, 0-based); resolves once
   * every one said it is ready.
   */
  static async start(
    cleanup: Cleanup,
    script: string,
    args: string[] | ((i: number) => string[]),
    n: number,
    readyTimeoutMs = 30_000,
  ): Promise<ChildGroup> {
    const group = new ChildGroup();
    cleanup.defer(`${n} × ${script}`, () => group.stop());
    let ready = 0;
    for (let i = 0; i < n; i++) {
      // execArgv: [] so a child is a plain `node script`, whatever flags the bench runs under (vitest's).
      const child = fork(script, typeof args === "function" ? args(i) : args, {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        execArgv: [],
      });
      trackChild(child);
      group.children.push(child);
      child.on("message", (raw) => {
        const msg = ChildReport.safeParse(raw);
        if (!msg.success) {
          group.#failure = `a child sent an unexpected message: ${JSON.stringify(raw).slice(0, 200)}`;
          return;
        }
        const m = msg.data;
        if (m.type === "ready") ready += 1;
        else if (m.type === "error") group.#failure = `${script}: ${m.message}`;
        else {
          group.count += m.count;
          if (m.last > group.last) group.last = m.last;
          for (const s of m.samples) group.samples.push(s);
        }
      });
      child.once("exit", (code, signal) => {
        if (!group.#stopping) group.#failure ??= `${script} exited (${code ?? signal}) during the run`;
      });
    }
    const deadline = Date.now() + readyTimeoutMs;
    while (ready < n) {
      group.check();
      if (Date.now() > deadline) throw new Error(`${script}: ${n - ready} of ${n} never became ready`);
      await sleep(20);
    }
    return group;
  }

  /** Throws if a child failed or exited: called while waiting, so a dead baseline ends its run at once. */
  check(): void {
    if (this.#failure) throw new Error(this.#failure);
  }

  /** Forgets what was counted so far (after a warm-up). */
  reset(): void {
    this.count = 0;
    this.last = 0;
    this.samples = [];
  }

  pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      this.children.map(async (child) => {
        if (!isRunning(child)) return;
        if (child.connected) child.send(STOP);
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        const timer = setTimeout(() => void stopChild(child, 2000), 3000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
