import { RequestOne } from "@nats-io/nats-core/internal";

/**
 * nats.js (3.3) settles a request when its reply arrives, then "cancels" it, which builds a
 * `RequestError` (capturing a stack trace) only to reject a promise already settled. Every
 * JetStream publish, KV write and KV get is such a request: measured here, that needless error is
 * about a fifth of a publish's CPU. This settles a request that got its reply without it; errors,
 * timeouts and real cancels take the library's own path. Should the library's internals differ
 * from what this expects, it changes nothing.
 */
type Internals = {
  timer?: { cancel(): void };
  mux: { cancel(r: unknown): void };
  deferred: { resolve(v: unknown): void };
  resolver(err: Error | null, msg: unknown): void;
};

let patched = false;

export function patchRequestSettle(): boolean {
  if (patched) return true;
  const proto = RequestOne.prototype as unknown as Internals;
  const original = proto.resolver;
  if (typeof original !== "function") return false;
  proto.resolver = function (this: Internals, err: Error | null, msg: unknown): void {
    if (err || !this.deferred || !this.mux) {
      original.call(this, err, msg);
      return;
    }
    this.timer?.cancel();
    this.deferred.resolve(msg);
    this.mux.cancel(this);
  };
  patched = true;
  return true;
}
