import { sleep } from "./clock.js";

export type Log = (line: string) => void;

/** Progress lines go to stderr, so stdout holds only the tables. */
export const stderrLog: Log = (line) => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

export const silentLog: Log = () => undefined;

export interface ProgressOptions {
  /** Give up when the count has not moved for this long. @default 60_000 */
  stallMs?: number;
  /** What is counted, for progress lines and errors ("ours: completions"). */
  label: string;
  log: Log;
  /** How often a progress line is written. @default 5000 */
  reportEveryMs?: number;
}

/**
 * Waits until `count()` reaches `target`. A run is only given up when it stops moving (not after
 * a fixed time): a slow system must still be measured, a stuck one must not hang the bench.
 */
export async function waitForCount(
  count: () => number,
  target: number,
  options: ProgressOptions,
): Promise<void> {
  const stallMs = options.stallMs ?? 60_000;
  const reportEveryMs = options.reportEveryMs ?? 5000;
  let last = count();
  let movedAt = Date.now();
  let reportedAt = Date.now();
  while (count() < target) {
    await sleep(20);
    const c = count();
    if (c !== last) {
      last = c;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > stallMs) {
      throw new Error(`${options.label}: stalled at ${c}/${target} (no progress for ${stallMs / 1000} s)`);
    }
    if (Date.now() - reportedAt >= reportEveryMs) {
      reportedAt = Date.now();
      options.log(`${options.label}: ${c.toLocaleString("en-US")}/${target.toLocaleString("en-US")}`);
    }
  }
}

/**
 * A count that takes a round trip to read (keys in a bucket, records): read again every `everyMs`
 * in the background, so `waitForCount` can watch it. `stop()` ends the reading.
 */
export function polled(read: () => Promise<number>, everyMs = 250): { value(): number; stop(): void } {
  let value = 0;
  let stopped = false;
  void (async () => {
    while (!stopped) {
      // A read that hangs is abandoned after 5 s (the count then stalls, and the wait says so).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(value), 5000);
      });
      value = await Promise.race([read().catch(() => value), late]);
      clearTimeout(timer);
      await sleep(everyMs);
    }
  })();
  return {
    value: () => value,
    stop: () => {
      stopped = true;
    },
  };
}
