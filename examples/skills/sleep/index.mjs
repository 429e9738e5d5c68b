/**
 * Waits `ms` in `steps` equal steps (default 10). After each step it checkpoints `{ done }` and
 * reports progress; a retried attempt starts after the last step a previous attempt finished.
 */
export async function run(input, ctx) {
  const ms = Number(input?.ms ?? 1000);
  const steps = Math.floor(Number(input?.steps ?? 10));
  if (!Number.isFinite(ms) || ms < 0) throw invalid("ms must be a number of milliseconds, 0 or more");
  if (!Number.isFinite(steps) || steps < 1 || steps > 10_000) throw invalid("steps must be from 1 to 10000");
  const saved = Number(ctx.lastCheckpoint?.done);
  const from = Number.isInteger(saved) && saved > 0 ? Math.min(saved, steps) : 0;
  if (from > 0) ctx.log.info({ done: from, steps }, "resuming from checkpoint");
  for (let done = from; done < steps; ) {
    await wait(ms / steps, ctx.signal);
    done += 1;
    await ctx.checkpoint({ done });
    ctx.progress((done / steps) * 100, `step ${done} of ${steps}`);
  }
  return { slept_ms: ms, steps, resumed_from: from };
}

function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function invalid(message) {
  return Object.assign(new Error(message), { retryable: false });
}
