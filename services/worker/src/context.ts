import { type Cluster, decode, encode, errorMessage, isCasConflict } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { Checkpoint, envelope, type Sender, type TaskEvent } from "@openclaw/protocol";

/** What a skill's `run(input, ctx)` gets besides its input. */
export interface SkillContext {
  readonly taskId: string;
  /** 1 for the first attempt, counting up with each retry. */
  readonly attempt: number;
  /** The node running this attempt. */
  readonly nodeId: string;
  /** The task's payload (also `run`'s first argument). */
  readonly payload: unknown;
  /** Fires when the attempt is cancelled, times out or the worker stops; stop work when it does. */
  readonly signal: AbortSignal;
  /** Reports how far the attempt is (0-100). Throttled to about 4 a second; 100 is always sent. */
  progress(percent: number, message?: string): void;
  /** Saves `data` (JSON) as the task's checkpoint; a later attempt gets it as `lastCheckpoint`. */
  checkpoint(data: unknown): Promise<void>;
  /** The data of the task's latest checkpoint, from any earlier attempt; undefined if none. */
  readonly lastCheckpoint: unknown;
  /** The worker's logger, with `task_id` and `attempt` on every line. */
  readonly log: Logger;
  readonly config: {
    /** `worker.allowed_commands`: the only commands a skill that runs commands should run. */
    readonly allowedCommands: readonly string[];
  };
}

export interface ContextOptions {
  cluster: Cluster;
  sender: Sender;
  nodeId: string;
  taskId: string;
  attempt: number;
  payload: unknown;
  signal: AbortSignal;
  lastCheckpoint: unknown;
  log: Logger;
  allowedCommands: readonly string[];
}

export interface AttemptContext {
  ctx: SkillContext;
  /**
   * Resolves once every checkpoint write begun so far has finished, or once `deadlineMs` has
   * passed (then the attempt is closed, so the writes still queued are skipped), with whether
   * they all finished.
   */
  settled(deadlineMs?: number): Promise<boolean>;
  /** Ends the attempt: later progress and checkpoints are dropped, and so are queued checkpoint writes. */
  close(): void;
}

/** At most one progress event per task this often; the newest waiting value is sent when it passes. */
const PROGRESS_INTERVAL_MS = 250;

/** How long the end of an attempt waits for its checkpoint writes before reporting anyway. */
export const SETTLE_DEADLINE_MS = 2000;
/** How long a checkpoint write is retried through a NATS outage before it is given up. */
const CHECKPOINT_RETRY_MS = 10_000;

/** Reads the data of a task's latest checkpoint, or undefined when there is none. */
export async function readLastCheckpoint(cluster: Cluster, taskId: string, log: Logger): Promise<unknown> {
  try {
    const entry = await cluster.kv.checkpoints.get(taskId);
    if (entry?.operation !== "PUT") return undefined;
    const cp = decode(Checkpoint, entry.value);
    if (cp.ok && cp.value.task_id === taskId) return cp.value.data;
    log.warn(
      { error_code: "OC-2002", error: cp.ok ? "for another task" : cp.error },
      "invalid checkpoint ignored",
    );
  } catch (err) {
    log.warn({ error: errorMessage(err) }, "cannot read the last checkpoint; starting without it");
  }
  return undefined;
}

/**
 * Writes a checkpoint unless a later attempt already wrote one (compare-and-set on the key's
 * revision), so an attempt the scheduler has moved on from cannot overwrite its successor's.
 */
async function writeCheckpoint(
  cluster: Cluster,
  cp: Checkpoint,
  stopped: () => boolean,
  log: Logger,
): Promise<boolean> {
  const kv = cluster.kv.checkpoints;
  const deadline = performance.now() + CHECKPOINT_RETRY_MS;
  for (let i = 0; ; i++) {
    try {
      const entry = await kv.get(cp.task_id);
      if (entry?.operation === "PUT") {
        const prev = decode(Checkpoint, entry.value);
        if (prev.ok && prev.value.attempt > cp.attempt) {
          log.warn("a later attempt has checkpointed this task; checkpoint dropped");
          return false;
        }
        await kv.update(cp.task_id, encode(cp), entry.revision);
      } else {
        await kv.create(cp.task_id, encode(cp));
      }
      return true;
    } catch (err) {
      // A conflict is another write in between: read again. Anything else (NATS restarting, a
      // stream leader election) is retried for a while; a checkpoint is a resume point, and
      // losing one must not fail the skill.
      if (isCasConflict(err) && i < 4) continue;
      if (stopped() || performance.now() > deadline || isCasConflict(err)) {
        log.warn({ error: errorMessage(err) }, "checkpoint not saved; the attempt goes on without it");
        return false;
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** Math.min(i, 4))));
    }
  }
}

export interface ProgressThrottle {
  /** `ctx.progress`: clamps to 0-100, cuts the message to 500 characters, throttles. */
  progress(percent: number, message?: string): void;
  /** Drops the value waiting and everything after. */
  close(): void;
}

/**
 * `ctx.progress` as skills get it: at most one value per PROGRESS_INTERVAL_MS reaches `send`
 * (the newest waiting value wins), and 100 always goes at once. Used by the worker's context and
 * by local runs, so a skill reports the same way wherever it runs.
 */
export function throttleProgress(send: (p: { percent: number; message: string }) => void): ProgressThrottle {
  let closed = false;
  let lastSent = Number.NEGATIVE_INFINITY;
  let waiting: { percent: number; message: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const sendNow = (p: { percent: number; message: string }) => {
    lastSent = performance.now();
    send(p);
  };
  const flushWaiting = () => {
    timer = undefined;
    const p = waiting;
    waiting = undefined;
    if (p && !closed) sendNow(p);
  };
  return {
    progress(percent, message = "") {
      if (closed || typeof percent !== "number" || Number.isNaN(percent)) return;
      const p = { percent: Math.min(100, Math.max(0, percent)), message: String(message).slice(0, 500) };
      if (p.percent === 100) {
        clearTimeout(timer);
        timer = undefined;
        waiting = undefined;
        sendNow(p);
        return;
      }
      const wait = lastSent + PROGRESS_INTERVAL_MS - performance.now();
      if (wait <= 0 && timer === undefined) return sendNow(p);
      waiting = p;
      timer ??= setTimeout(flushWaiting, Math.max(0, wait));
    },
    close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      waiting = undefined;
    },
  };
}

export function createContext(o: ContextOptions): AttemptContext {
  const { cluster, taskId, attempt, nodeId, log } = o;
  let closed = false;
  let writes: Promise<unknown> = Promise.resolve();

  const publish = (event: TaskEvent) => {
    cluster.js
      .publish(cluster.names.subjects.taskEvent(taskId, event.kind), encode(event))
      .catch((err: unknown) => log.debug({ error: errorMessage(err) }, `${event.kind} event not published`));
  };
  const progress = throttleProgress((p) =>
    publish({ ...envelope(o.sender), kind: "progress", task_id: taskId, attempt, node_id: nodeId, ...p }),
  );

  const close = () => {
    closed = true;
    progress.close();
  };

  const ctx: SkillContext = {
    taskId,
    attempt,
    nodeId,
    payload: o.payload,
    signal: o.signal,
    lastCheckpoint: o.lastCheckpoint,
    log,
    config: { allowedCommands: o.allowedCommands },
    progress: progress.progress,
    checkpoint(data) {
      if (closed) {
        log.debug("checkpoint after the attempt ended; dropped");
        return Promise.resolve();
      }
      // JSON drops an undefined value but the schema wants the key: store null instead.
      const cp: Checkpoint = {
        task_id: taskId,
        attempt,
        node_id: nodeId,
        data: data ?? null,
        at: new Date().toISOString(),
      };
      const write = writes.then(async () => {
        // Queued behind earlier writes: the attempt may have ended meanwhile.
        if (closed) return;
        if (!(await writeCheckpoint(cluster, cp, () => closed, log))) return;
        publish({ ...envelope(o.sender), kind: "checkpointed", task_id: taskId, attempt, node_id: nodeId });
      });
      // Marked handled: a skill that does not await its checkpoint must not crash the worker
      // with an unhandled rejection; one that awaits still gets the error.
      writes = write.catch(() => undefined);
      return write;
    },
  };
  return {
    ctx,
    async settled(deadlineMs = SETTLE_DEADLINE_MS) {
      let deadline: NodeJS.Timeout | undefined;
      const all = await Promise.race([
        writes.then(() => true),
        new Promise<false>((resolve) => {
          deadline = setTimeout(() => resolve(false), deadlineMs);
        }),
      ]);
      clearTimeout(deadline);
      if (!all) {
        close();
        log.warn(
          { deadline_ms: deadlineMs },
          "checkpoint writes still queued at the end of the attempt; the rest are dropped",
        );
      }
      return all;
    },
    close,
  };
}
