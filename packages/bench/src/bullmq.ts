import { Queue } from "bullmq";
import { ChildGroup, childScript } from "./children.js";
import type { Cleanup } from "./cleanup.js";
import { setup } from "./harness.js";
import { type Redis, startRedis } from "./infra.js";
import { type Log, waitForCount } from "./progress.js";

export interface Bullmq {
  redis: Redis;
  queue: Queue;
  workers: ChildGroup;
}

/**
 * The BullMQ baseline as it is deployed: a fresh redis-server, `workers` worker processes at
 * `concurrency` each (a no-op processor), and a `Queue` in the bench to add jobs. One job is run
 * first, so every connection is open and warm before the clock starts.
 */
export function startBullmq(
  cleanup: Cleanup,
  o: { workers: number; concurrency: number; log: Log },
): Promise<Bullmq> {
  return setup(() => boot(cleanup, o));
}

async function boot(
  cleanup: Cleanup,
  o: { workers: number; concurrency: number; log: Log },
): Promise<Bullmq> {
  const redis = await startRedis(cleanup);
  const name = "bench";
  const workers = await ChildGroup.start(
    cleanup,
    childScript("bullmq-worker"),
    [String(redis.port), name, String(o.concurrency)],
    o.workers,
  );
  const queue = new Queue(name, { connection: { host: "127.0.0.1", port: redis.port } });
  cleanup.defer("BullMQ queue", () => queue.close());
  await queue.waitUntilReady();
  await queue.add("noop", {});
  await waitForCount(() => completed(workers), 1, { label: "BullMQ warm-up", log: o.log, stallMs: 30_000 });
  workers.reset();
  return { redis, queue, workers };
}

/** The workers' completions so far; throws at once if one of them died. */
export function completed(workers: ChildGroup): number {
  workers.check();
  return workers.count;
}
