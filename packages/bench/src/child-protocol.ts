import { z } from "zod";

/**
 * What a baseline's child process (a BullMQ worker, a JetStream consumer) tells the bench over
 * IPC. Completions go in batches (a count and the time of the last one), so reporting costs the
 * child next to nothing; latency samples are `[submitted, handler started]` pairs.
 */
export const ChildReport = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  z.object({
    type: z.literal("done"),
    count: z.number().int().min(0),
    last: z.number(),
    samples: z.array(z.tuple([z.number(), z.number()])),
  }),
  z.object({ type: z.literal("error"), message: z.string() }),
]);
export type ChildReport = z.infer<typeof ChildReport>;

/** The bench's one command to a child: finish and exit. */
export const STOP = { type: "stop" } as const;

/**
 * The child's side: batches completions and sends them every `everyMs`. `beforeSend` runs first
 * (a JetStream consumer flushes, so every ack counted has reached the server).
 */
export function createReporter(options: { everyMs?: number; beforeSend?: () => Promise<void> } = {}) {
  let count = 0;
  let last = 0;
  let samples: [number, number][] = [];
  let sending = false;
  const send = (msg: ChildReport) => process.send?.(msg);
  const flush = async () => {
    if (sending || count === 0) return;
    sending = true;
    try {
      await options.beforeSend?.();
      const msg: ChildReport = { type: "done", count, last, samples };
      count = 0;
      samples = [];
      send(msg);
    } catch (err) {
      send({ type: "error", message: (err as Error).message });
    } finally {
      sending = false;
    }
  };
  const timer = setInterval(() => void flush(), options.everyMs ?? 25);
  // The bench is gone (killed, crashed): so is this child.
  process.on("disconnect", () => process.exit(0));
  return {
    ready: () => send({ type: "ready" }),
    error: (err: unknown) => send({ type: "error", message: (err as Error)?.message ?? String(err) }),
    /** One completion at time `at`; `sample` for latency runs. */
    done(at: number, sample?: [number, number]) {
      count += 1;
      if (at > last) last = at;
      if (sample) samples.push(sample);
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
