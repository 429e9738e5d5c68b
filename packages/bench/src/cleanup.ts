import type { ChildProcess } from "node:child_process";

/**
 * What a run started, stopped in reverse order at its end: on success, on failure and on SIGINT
 * (`closeEverything`). A bench that leaves a nats-server or a worker behind skews every later
 * figure on the machine, so nothing is left to the garbage collector.
 */
export class Cleanup {
  readonly #steps: { what: string; fn: () => Promise<void> | void }[] = [];
  #closed = false;

  constructor() {
    open.add(this);
  }

  /** Runs `fn` at close (last added, first run). */
  defer(what: string, fn: () => Promise<void> | void): void {
    if (this.#closed) throw new Error(`cleanup already closed; cannot defer ${what}`);
    this.#steps.push({ what, fn });
  }

  /** Runs every step, each at most `stepTimeoutMs`; errors are reported, never thrown. */
  async close(log: (line: string) => void = () => undefined, stepTimeoutMs = 20_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    open.delete(this);
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.fn),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error("timed out")), stepTimeoutMs);
          }),
        ]);
      } catch (err) {
        log(`cleanup: stopping ${step.what} failed: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

const open = new Set<Cleanup>();

/** Closes every cleanup still open (for SIGINT), newest first. */
export async function closeEverything(log?: (line: string) => void): Promise<void> {
  for (const c of [...open].reverse()) await c.close(log, 5000);
}

const children = new Set<ChildProcess>();
// The last line of defence (an uncaught error, process.exit): no child outlives the bench.
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Kills `child` with SIGKILL when this process exits, should nothing have stopped it before. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
