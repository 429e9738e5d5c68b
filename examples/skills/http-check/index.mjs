/**
 * Fetches `url` and reports its HTTP status and how long the response took to start. A site that
 * cannot be reached is a result too (`ok: false`, `status: null`, `error`), so a sweep over many
 * sites reports every one; only a bad input fails the task.
 */
export async function run(input, ctx) {
  const url = parseUrl(input?.url);
  const timeoutMs = Number(input?.timeout_ms ?? 10_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw invalid("timeout_ms must be a positive number");
  const own = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await fetch(url, { signal: AbortSignal.any([ctx.signal, own]), redirect: "follow" });
    const latency_ms = elapsed();
    await res.body?.cancel().catch(() => undefined);
    return { url: url.href, status: res.status, ok: res.ok, latency_ms };
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const error = own.aborted ? `no response within ${timeoutMs} ms` : describe(err);
    return { url: url.href, status: null, ok: false, latency_ms: elapsed(), error };
  }
}

function parseUrl(value) {
  let url;
  try {
    url = new URL(String(value));
  } catch {
    throw invalid(`input.url is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("input.url must be http or https");
  return url;
}

function describe(err) {
  const cause = err?.cause;
  return cause?.code ? `${cause.code}: ${cause.message}` : String(err?.message ?? err);
}

function invalid(message) {
  return Object.assign(new Error(message), { retryable: false });
}
