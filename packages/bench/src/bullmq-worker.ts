/**
 * The BullMQ baseline's worker process (`node bullmq-worker.js <redis port> <queue> <concurrency>`):
 * a BullMQ `Worker` with a no-op processor that notes when the handler started. It reports
 * completions (BullMQ's `completed`, fired once the job is stored as completed) to the bench over IPC.
 */
import { Worker } from "bullmq";
import { createReporter } from "./child-protocol.js";
import { now } from "./clock.js";

const [port, queue, concurrency] = process.argv.slice(2);
const reporter = createReporter();
const started = new Map<string, [number, number]>();

const worker = new Worker(
  queue ?? "bench",
  async (job) => {
    const t = now();
    const s = (job.data as { s?: unknown } | undefined)?.s;
    if (typeof s === "number" && job.id) started.set(job.id, [s, t]);
    return null;
  },
  { connection: { host: "127.0.0.1", port: Number(port) }, concurrency: Number(concurrency ?? 100) },
);

worker.on("completed", (job) => {
  const sample = job.id ? started.get(job.id) : undefined;
  if (sample && job.id) started.delete(job.id);
  reporter.done(now(), sample);
});
worker.on("error", (err) => reporter.error(err));

process.on("message", (msg) => {
  if ((msg as { type?: string }).type !== "stop") return;
  void (async () => {
    await worker.close();
    await reporter.close();
    process.exit(0);
  })();
});

try {
  await worker.waitUntilReady();
  reporter.ready();
} catch (err) {
  reporter.error(err);
  // A moment for the report to leave over IPC.
  setTimeout(() => process.exit(1), 200);
}
