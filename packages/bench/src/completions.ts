import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Names } from "@openclaw/protocol";
import { z } from "zod";
import type { Cleanup } from "./cleanup.js";
import { now } from "./clock.js";

/** The part of a `completed` event the latency scenario reads: the noop skill's result. */
const CompletedResult = z.object({ result: z.object({ s: z.number().nullable(), t: z.number() }) });

/**
 * Counts our cluster's task completions as they happen: a core NATS subscription to every task's
 * `completed` event (what the scheduler publishes once a result is stored), not polling. Each
 * task counts once, should an event be published again.
 */
export class Completions {
  count = 0;
  /** When (clock.now) the latest completion arrived here. */
  last = 0;
  /** `[submitted, handler started]` per task, when watching with samples. */
  samples: [number, number][] = [];
  #seen = new Set<string>();
  #bad = 0;

  private constructor(
    readonly nc: NatsConnection,
    readonly sub: Subscription,
  ) {}

  static async watch(
    cleanup: Cleanup,
    natsUrl: string,
    names: Names,
    options: { samples: boolean },
  ): Promise<Completions> {
    const nc = await connect({ servers: natsUrl, noAsyncTraces: true, name: "bench-completions" });
    cleanup.defer("completion watcher", () => nc.close());
    // `<prefix>.evt.task.*.completed`: names() refuses '*' as a task id, so swap the tail of the wildcard.
    const subject = names.subjects.taskEventsAll.replace(/>$/, "*.completed");
    let self: Completions | undefined;
    const sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || !self) return;
        const taskId = msg.subject.split(".")[3] ?? "";
        if (self.#seen.has(taskId)) return;
        self.#seen.add(taskId);
        self.count += 1;
        self.last = now();
        if (!options.samples) return;
        const parsed = CompletedResult.safeParse(msg.json());
        if (parsed.success && parsed.data.result.s !== null) {
          self.samples.push([parsed.data.result.s, parsed.data.result.t]);
        } else self.#bad += 1;
      },
    });
    self = new Completions(nc, sub);
    // The subscription is known to the server before anything is submitted.
    await nc.flush();
    return self;
  }

  /** Completions whose result was not the noop skill's (latency runs count them as errors). */
  get malformed(): number {
    return this.#bad;
  }

  /** Forgets what was counted so far (after a warm-up). */
  reset(): void {
    this.count = 0;
    this.last = 0;
    this.samples = [];
    this.#bad = 0;
  }
}
