/**
 * Thrown from a `waitFor` condition to give up at once: the condition can never become true
 * (the process it waits on has exited, ...). Every other error is retried until the deadline.
 */
export class StopWaiting extends Error {
  override readonly name = "StopWaiting";
}

/**
 * Polls `fn` until it returns a truthy value (returned) or the deadline passes (throws with the
 * last error). A `StopWaiting` thrown by `fn` is rethrown at once.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: { timeout?: number; interval?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const timeout = options.timeout ?? 10_000;
  const interval = options.interval ?? 50;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : "";
      throw new Error(`${options.message ?? "condition not met"} within ${timeout}ms${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A unique, subject-safe prefix per test so tests never share streams or buckets. */
export function uniquePrefix(base = "t"): string {
  return `${base}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
