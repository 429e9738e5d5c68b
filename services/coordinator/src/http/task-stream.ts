import { isTerminal, type TaskEvent } from "@openclaw/protocol";
import type { FastifyReply } from "fastify";
import type { TaskStore } from "../db/task-store.js";
import type { TaskBus } from "../task-bus.js";
import {
  liveEventData,
  openEventStream,
  outcomeOfEvent,
  sseFrame,
  storedEventData,
  toTaskResultJson,
} from "./task-present.js";
import type { TaskResultJson } from "./task-schemas.js";

export interface TaskFeedDeps {
  tasks: TaskStore;
  /** Live events; without it only what the read model stores is seen. */
  bus: TaskBus | undefined;
  /** Aborted when the API closes: streams end and long polls answer at once. */
  closing: AbortSignal;
}

/** Stored events read per query while catching up. */
const PAGE = 500;
/** A comment line now and then keeps proxies from closing an idle stream. */
const PING_MS = 15_000;
/** Safety net: look at the store this often even when nothing pokes. */
const IDLE_CHECK_MS = 5_000;
/** After a live terminal event, how long to wait for the read model to store what led to it. */
const SETTLE_MS = 3_000;

/**
 * Follows one task: live events (core NATS) and the read model's changes both wake `next()`.
 * Subscribe first, read second, so nothing published in between is missed.
 */
class TaskFeed {
  readonly live: TaskEvent[] = [];
  #wake: (() => void) | undefined;
  readonly #stop: (() => void)[] = [];

  constructor(taskId: string, deps: TaskFeedDeps, onEnd: () => void) {
    if (deps.bus) {
      this.#stop.push(
        deps.bus.watch(taskId, (e) => {
          this.live.push(e);
          this.poke();
        }),
      );
    }
    this.#stop.push(
      deps.tasks.onChange((ids) => {
        if (ids.has(taskId)) this.poke();
      }),
    );
    const end = () => {
      onEnd();
      this.poke();
    };
    deps.closing.addEventListener("abort", end);
    this.#stop.push(() => deps.closing.removeEventListener("abort", end));
  }

  poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Resolves on the next poke, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    for (const stop of this.#stop.splice(0)) stop();
    this.poke();
  }
}

/**
 * `GET /api/v1/tasks/:id/events`: every stored event of the task after `afterSeq`, then live
 * ones, as server-sent events, until the task is terminal (and the read model has everything
 * up to that point), the client goes away, or the API closes. Events are sent once each
 * (matched by their envelope id); ones the live feed missed are sent when the store has them.
 */
export async function streamTaskEvents(
  reply: FastifyReply,
  taskId: string,
  afterSeq: number,
  deps: TaskFeedDeps,
): Promise<void> {
  const { tasks } = deps;
  const raw = reply.raw;
  let closed = deps.closing.aborted;
  const feed = new TaskFeed(taskId, deps, () => {
    closed = true;
  });
  const onClose = () => {
    closed = true;
    feed.poke();
  };
  raw.once("close", onClose);
  // A write racing the client's disconnect must not become an unhandled 'error'.
  raw.on("error", onClose);
  const write = (text: string) => {
    if (!closed && !raw.destroyed && !raw.writableEnded) raw.write(text);
  };
  openEventStream(reply, write);
  const ping = setInterval(() => write(": ping\n\n"), PING_MS);
  const sent = new Set<string>();
  let storeSeq = afterSeq;
  let settleUntil: number | undefined;
  try {
    while (!closed) {
      for (;;) {
        const rows = tasks.eventsAfter(taskId, storeSeq, PAGE);
        for (const row of rows) {
          storeSeq = row.seq;
          if (sent.has(row.event_id)) continue;
          sent.add(row.event_id);
          write(sseFrame(row.kind, row.seq, storedEventData(row)));
        }
        if (rows.length < PAGE) break;
      }
      for (const e of feed.live.splice(0)) {
        if (sent.has(e.id)) continue;
        sent.add(e.id);
        const seq = tasks.seqOfEvent(taskId, e.id);
        write(sseFrame(e.kind, seq, liveEventData(e, seq)));
        if ("task" in e && isTerminal(e.task.status)) settleUntil ??= Date.now() + SETTLE_MS;
      }
      const now = tasks.outcome(taskId);
      if (now && isTerminal(now.status) && now.updated_seq > 0 && now.updated_seq <= storeSeq) break;
      if (settleUntil !== undefined && Date.now() >= settleUntil) break;
      await feed.next(settleUntil === undefined ? IDLE_CHECK_MS : 100);
    }
  } finally {
    clearInterval(ping);
    feed.close();
    raw.off("close", onClose);
    if (!raw.writableEnded && !raw.destroyed) raw.end();
  }
}

/**
 * Waits up to `ms` for the task to be terminal: answers from a live event as soon as one says
 * so, else from the read model. Answers the current state when the wait ends, the client goes
 * away, or the API closes.
 */
export function awaitOutcome(
  reply: FastifyReply,
  taskId: string,
  ms: number,
  deps: TaskFeedDeps,
): Promise<TaskResultJson | undefined> {
  const { tasks } = deps;
  const fromStore = () => {
    const row = tasks.outcome(taskId);
    return row ? toTaskResultJson(row) : undefined;
  };
  return new Promise((resolve) => {
    let done = false;
    let feed: TaskFeed | undefined;
    const finish = (answer: TaskResultJson | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      feed?.close();
      reply.raw.off("close", onClose);
      resolve(answer);
    };
    const check = () => {
      for (const e of feed?.live.splice(0) ?? []) {
        const told = outcomeOfEvent(e);
        if (told && isTerminal(told.status)) return finish(told);
      }
      const now = fromStore();
      if (!now || isTerminal(now.status)) finish(now);
    };
    const onClose = () => finish(fromStore());
    const timer = setTimeout(() => finish(fromStore()), ms);
    reply.raw.once("close", onClose);
    feed = new TaskFeed(taskId, deps, () => finish(fromStore()));
    if (deps.closing.aborted) return finish(fromStore());
    // The feed pokes on every change; each poke re-checks, then waits again.
    void (async () => {
      check();
      while (!done) {
        await feed.next(IDLE_CHECK_MS);
        check();
      }
    })();
  });
}
