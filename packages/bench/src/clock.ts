/**
 * Milliseconds since the epoch, sub-millisecond, from the monotonic clock. Every process and
 * thread on one machine derives its `timeOrigin` from the same system clock, so a time taken in
 * the bench and one taken in a worker's skill thread can be subtracted (latency, end of a run).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
