import { type JetStreamClient, type JetStreamPublishOptions, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * How long a JetStream publish keeps trying through a NATS fault when its caller gives no
 * `timeout`. In a NATS cluster, when the node that leads a stream dies, the others elect a new
 * leader; until then nobody answers for the stream's subjects (about 5-10 s on nats-server 2.9).
 */
export const PUBLISH_PATIENCE_MS = 15_000;

/**
 * A publish nobody answered: nats.js reports it as `JetStreamNotEnabled` ("jetstream is not
 * enabled", caused by "no responders"). Nothing stored it, so publishing again is always safe.
 */
function isNoResponders(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === "JetStreamNotEnabled";
}

/** No acknowledgement in time: the message may or may not be stored. */
function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; cause?: { name?: string } } | undefined;
  return e?.name === "TimeoutError" || e?.cause?.name === "TimeoutError";
}

/**
 * Whether storing this message twice does no harm, so it may be sent again when its
 * acknowledgement is lost: one with a message id (the stream drops the copy), or a plain KV put
 * (no compare-and-set, no delete: the same value is written again, as a checkpoint).
 */
function repeatable(subject: string, options: Partial<JetStreamPublishOptions> | undefined): boolean {
  if (options?.msgID !== undefined) return true;
  return subject.startsWith("$KV.") && options?.headers === undefined && options?.expect === undefined;
}

/**
 * The JetStream client every service and the SDK use. Its `publish` (which KV puts, creates and
 * updates go through too) rides out NATS faults instead of failing at once: it publishes again
 * when nobody answered (a stream without a leader while a NATS cluster elects one, or JetStream
 * still starting after a restart), and, for a message that may be stored twice (`repeatable`),
 * when the acknowledgement did not come (the server died with the request in flight). It keeps
 * trying for up to the publish's own `timeout` when it gives one (so a caller's bound holds),
 * else PUBLISH_PATIENCE_MS. Every other error (a wrong last sequence, ...) is the caller's at
 * once, as before.
 */
export function patientJetStream(nc: NatsConnection): JetStreamClient {
  const js = jetstream(nc);
  const publish = js.publish.bind(js);
  js.publish = async (subject, payload, options) => {
    const bound = options?.timeout;
    const deadline = Date.now() + (bound ?? PUBLISH_PATIENCE_MS);
    for (let attempt = 0; ; attempt++) {
      // Each try waits for its ack no longer than what is left of the caller's bound.
      const timeout = attempt === 0 || bound === undefined ? bound : deadline - Date.now();
      try {
        return await publish(subject, payload, timeout === bound ? options : { ...options, timeout });
      } catch (err) {
        const again = isNoResponders(err) || (isTimeout(err) && repeatable(subject, options));
        const pause = isNoResponders(err) ? Math.min(1000, 100 * 2 ** attempt) : 0;
        if (!again || nc.isClosed() || Date.now() + pause + 100 >= deadline) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  };
  return js;
}
