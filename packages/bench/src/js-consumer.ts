/**
 * The raw JetStream limit's consumer process (`node js-consumer.js <nats url> <stream> <consumer>`):
 * pull-consumes a work-queue stream through a shared durable consumer and acks every message at
 * once: the least any JetStream-based queue has to do per task.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createReporter } from "./child-protocol.js";
import { now } from "./clock.js";

const [url, stream, durable] = process.argv.slice(2);
const nc = await connect({ servers: url, noAsyncTraces: true, name: `bench-js-consumer-${process.pid}` });
// Acks are fire-and-forget: a flush before each report makes sure the server has every ack counted.
const reporter = createReporter({ beforeSend: () => nc.flush() });

try {
  const consumer = await jetstream(nc).consumers.get(stream ?? "", durable ?? "");
  const messages = await consumer.consume({ max_messages: 1000 });
  process.on("message", (msg) => {
    if ((msg as { type?: string }).type !== "stop") return;
    void (async () => {
      await messages.close();
      await reporter.close();
      await nc.drain();
      process.exit(0);
    })();
  });
  reporter.ready();
  for await (const m of messages) {
    m.ack();
    reporter.done(now());
  }
} catch (err) {
  reporter.error(err);
  // A moment for the report to leave over IPC.
  setTimeout(() => process.exit(1), 200);
}
