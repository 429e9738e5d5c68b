import { availableParallelism } from "node:os";
import {
  decode,
  ensureDurable,
  errorMessage,
  type JetStreamClient,
  type JsMsg,
  pause,
  type ServiceContext,
} from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { envelope, TaskAbort, TaskDispatch, type TaskError } from "@openclaw/protocol";
import { type AttemptContext, createContext, readLastCheckpoint } from "./context.js";
import { workerMetrics } from "./metrics.js";
import { ModulePool } from "./runtime/module-runner.js";
import { checkResult, failure, type Outcome } from "./runtime/outcome.js";
import { resolveRun } from "./runtime/resolve.js";
import { runSkill } from "./runtime/run-skill.js";
import type { SkillLocation } from "./skills.js";
import { fence, publishReport, publishReportOnce, reportOutcome } from "./task-bus.js";

type Consumer = Awaited<ReturnType<JetStreamClient["consumers"]["get"]>>;
type Batch = Awaited<ReturnType<Consumer["fetch"]>>;
type Subscription = ReturnType<ServiceContext["cluster"]["nc"]["subscribe"]>;

export interface ExecutorOptions {
  ctx: ServiceContext;
  nodeId: string;
  log: Logger;
  /** The folder and run declaration of a skill this node has now, by name. */
  locate(name: string): SkillLocation | undefined;
  /** After SIGTERM, how long a command skill gets before SIGKILL. @default 3000 */
  killGraceMs?: number;
}

interface Attempt {
  taskId: string;
  attempt: number;
  controller: AbortController;
  /** Past fencing and reported started. */
  started: boolean;
  /** The skill has settled; an abort no longer changes the outcome. */
  finished: boolean;
  /** Why it was aborted (timeout, cancel, stop); wins over whatever the skill does afterwards. */
  abortedWith?: TaskError;
  /** Its outcome has been reported already (by an emergency stop): report nothing more. */
  reported?: boolean;
}

/** The attempt is not the task's failure: the worker under it stopped (the scheduler places it again, not counted). */
const WORKER_STOPPING: TaskError = { code: "OC-6009", message: "worker stopping", retryable: true };

/** A dispatch that reaches a draining worker goes straight back (not counted against the task). */
const WORKER_DRAINING: TaskError = { code: "OC-6009", message: "worker draining", retryable: true };

/** How long one pull waits for dispatches before asking again. */
const FETCH_EXPIRES_MS = 5000;

/** `worker.skill_threads`, with 0 resolved: a thread per core (at least 2), never more than slots. */
export function skillThreads(configured: number, slots: number): number {
  const wanted = configured > 0 ? configured : Math.max(2, availableParallelism());
  return Math.max(1, Math.min(wanted, slots));
}
/** Empty fetches in a row, while the server says dispatches wait, before the consumer is renewed. */
const STALL_STRIKES = 2;

/**
 * Takes this node's dispatches from its durable consumer, never more than it has free slots for,
 * fences each against the task record, runs the skill and reports the attempt to the scheduler.
 */
export class Executor {
  readonly #o: ExecutorOptions;
  readonly #capacity: number;
  /** The threads module skills run in (`worker.skill_threads`), shared by the task slots. */
  readonly #modules: ModulePool;
  readonly #attempts = new Map<string, Attempt>();
  /** Attempts whose skill has ended and whose report is on its way: still listed in heartbeats. */
  readonly #reporting = new Set<string>();
  readonly #work = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  #busy = 0;
  /** Set while draining: new dispatches are handed back at once, running attempts go on. */
  #draining = false;
  /** Wakes whoever waits for the running attempts to end. */
  #idle: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #batch: Batch | undefined;
  /** Empty fetches in a row while dispatches waited (see #stalled). */
  #emptyWithPending = 0;
  #cancels: Subscription | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#capacity = options.ctx.config.worker.max_concurrent_tasks;
    const threads = skillThreads(options.ctx.config.worker.skill_threads, this.#capacity);
    this.#modules = new ModulePool({
      maxThreads: threads,
      attemptsPerThread: Math.ceil(this.#capacity / threads),
      log: options.log,
    });
  }

  /** Task ids of the attempts running now (fenced and started). */
  running(): string[] {
    const ids = new Set(this.#reporting);
    for (const a of this.#attempts.values()) if (a.started) ids.add(a.taskId);
    return [...ids];
  }

  async start(): Promise<void> {
    const { cluster } = this.#o.ctx;
    const { names } = cluster;
    await this.#ensureConsumer();
    this.#cancels = cluster.nc.subscribe(names.subjects.nodeCommand(this.#o.nodeId, "cancel"), {
      callback: (err, msg) => {
        if (!err) this.#onCancel(msg.data);
      },
    });
    this.#loop = this.#pull();
  }

  /**
   * Takes no new work (a dispatch that still arrives is handed back, OC-6009) and resolves once
   * no attempt runs, or when `signal` aborts (the grace period is over, or the operator hurries).
   */
  async drain(signal: AbortSignal): Promise<void> {
    this.#draining = true;
    while (this.#attempts.size > 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve;
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  /**
   * Stops pulling and aborts every attempt, reporting each as lost (OC-6009, retryable): the
   * worker going away is not the task's failure, so the scheduler places it again without
   * counting the attempt or backing off.
   */
  async stop(): Promise<void> {
    this.#halt();
    for (const a of this.#attempts.values()) this.#abort(a, WORKER_STOPPING);
    await this.#loop;
    await Promise.all([...this.#work]);
    await this.#modules.close();
  }

  /**
   * For a worker about to exit in an unknown state (an uncaught exception): stops pulling, aborts
   * every attempt and reports each started one as lost (OC-6009) at once, without waiting for the
   * skills, giving up after `timeoutMs`. Resolves with the number of attempts reported.
   */
  async emergencyStop(reason: string, timeoutMs = 1000): Promise<number> {
    this.#halt();
    const error: TaskError = { ...WORKER_STOPPING, message: `worker stopping: ${reason}`.slice(0, 4000) };
    const reports: Promise<void>[] = [];
    for (const a of this.#attempts.values()) {
      this.#abort(a, error);
      if (!a.started || a.reported) continue;
      a.reported = true;
      reports.push(
        publishReportOnce(
          this.#o.ctx.cluster,
          { ...this.#head(a), kind: "failed", error, duration_ms: 0 },
          timeoutMs,
        ).catch((err: unknown) =>
          this.#o.log.error(
            { task_id: a.taskId, attempt: a.attempt, error: errorMessage(err), error_code: "OC-2001" },
            "could not report the attempt lost",
          ),
        ),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(reports),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return reports.length;
  }

  /** Takes no more work. */
  #halt(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#batch?.stop();
    this.#wake?.();
    this.#cancels?.unsubscribe();
  }

  #ensureConsumer(): Promise<void> {
    const { jsm, names } = this.#o.ctx.cluster;
    const id = this.#o.nodeId;
    return ensureDurable(jsm, names.streams.dispatch, names.consumers.node(id), names.subjects.dispatch(id));
  }

  async #pull(): Promise<void> {
    const { js, names } = this.#o.ctx.cluster;
    const stopped = this.#stop.signal;
    let consumer: Consumer | undefined;
    while (!stopped.aborted) {
      while (this.#busy >= this.#capacity && !stopped.aborted) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
      if (stopped.aborted) break;
      try {
        consumer ??= await js.consumers.get(names.streams.dispatch, names.consumers.node(this.#o.nodeId));
        const batch = await consumer.fetch({
          max_messages: this.#capacity - this.#busy,
          expires: FETCH_EXPIRES_MS,
        });
        this.#batch = batch;
        if (stopped.aborted) batch.stop();
        let received = 0;
        for await (const m of batch) {
          received += 1;
          this.#take(m);
        }
        if (received > 0) this.#emptyWithPending = 0;
        else if (!stopped.aborted && (await this.#stalled(consumer))) consumer = undefined;
      } catch (err) {
        if (stopped.aborted) break;
        this.#o.log.warn(
          { error: errorMessage(err), error_code: "OC-2001" },
          "pulling dispatches failed; retrying",
        );
        consumer = undefined;
        await this.#ensureConsumer().catch(() => undefined);
        await pause(1000, stopped);
      } finally {
        this.#batch = undefined;
      }
    }
  }

  /**
   * After a fetch that brought nothing: whether the consumer is stuck (the server says dispatches
   * wait for this node, yet fetches come back empty, as a 2.9 server can do after a consumer
   * leader change). Twice in a row, it is renewed: deleted and made again, which delivers what
   * waits in the work-queue stream at once.
   */
  async #stalled(consumer: Consumer): Promise<boolean> {
    const info = await consumer.info().catch(() => undefined);
    if (!info || info.num_pending === 0) {
      this.#emptyWithPending = 0;
      return false;
    }
    this.#emptyWithPending += 1;
    if (this.#emptyWithPending < STALL_STRIKES) return false;
    this.#emptyWithPending = 0;
    const { jsm, names } = this.#o.ctx.cluster;
    this.#o.log.warn(
      { pending: info.num_pending, error_code: "OC-2001" },
      "dispatches wait but fetches bring none; renewing this node's consumer",
    );
    await jsm.consumers
      .delete(names.streams.dispatch, names.consumers.node(this.#o.nodeId))
      .catch(() => undefined);
    await this.#ensureConsumer().catch(() => undefined);
    return true;
  }

  #take(m: JsMsg): void {
    if (this.#stop.signal.aborted) {
      m.nak();
      return;
    }
    const d = decode(TaskDispatch, m.data);
    if (!d.ok) {
      this.#o.log.warn(
        { subject: m.subject, error_code: "OC-2002", error: d.error },
        "invalid dispatch dropped",
      );
      m.term();
      return;
    }
    // At most once: the scheduler, not redelivery, brings lost work back.
    m.ack();
    if (this.#draining) {
      const { task, attempt } = d.value;
      const head = {
        ...envelope(this.#o.ctx.sender),
        task_id: task.task_id,
        attempt,
        node_id: this.#o.nodeId,
      };
      void publishReportOnce(
        this.#o.ctx.cluster,
        { ...head, kind: "failed", error: WORKER_DRAINING, duration_ms: 0 },
        5000,
      ).catch((err: unknown) =>
        this.#o.log.warn(
          { task_id: task.task_id, error: errorMessage(err) },
          "could not hand back a dispatch while draining; the scheduler reclaims it after dispatch_timeout",
        ),
      );
      return;
    }
    this.#busy += 1;
    const p = this.#attempt(d.value)
      .catch((err: unknown) =>
        this.#o.log.error({ error: errorMessage(err), error_code: "OC-5000" }, "running a dispatch failed"),
      )
      .finally(() => {
        this.#busy -= 1;
        this.#work.delete(p);
        this.#wake?.();
        this.#wake = undefined;
      });
    this.#work.add(p);
  }

  async #attempt(dispatch: TaskDispatch): Promise<void> {
    const { task, attempt } = dispatch;
    const log = this.#o.log.child({ task_id: task.task_id, attempt });
    if (this.#attempts.has(task.task_id)) {
      log.debug("an attempt of this task is running here already; dispatch skipped");
      return;
    }
    const a: Attempt = {
      taskId: task.task_id,
      attempt,
      controller: new AbortController(),
      started: false,
      finished: false,
    };
    this.#attempts.set(a.taskId, a);
    workerMetrics.running.set(this.#attempts.size);
    try {
      // The last checkpoint is read alongside the fence, not after it: one round trip less. A first
      // attempt has none to read (attempt numbers never restart, not even on a manual retry).
      const checkpoint =
        attempt > 1 ? readLastCheckpoint(this.#o.ctx.cluster, task.task_id, log) : Promise.resolve(undefined);
      const skip = await fence(this.#o.ctx.cluster, this.#o.nodeId, dispatch);
      if (skip) {
        log.debug({ reason: skip }, "stale dispatch skipped");
        workerMetrics.stale.inc();
        return;
      }
      await this.#execute(a, dispatch, checkpoint, log);
    } finally {
      this.#forget(a);
    }
  }

  async #execute(
    a: Attempt,
    { task, attempt }: TaskDispatch,
    checkpoint: Promise<unknown>,
    log: Logger,
  ): Promise<void> {
    const { ctx } = this.#o;
    const maxResultBytes = ctx.config.tasks.max_result_bytes;
    const began = performance.now();
    const timer = setTimeout(
      () =>
        this.#abort(a, {
          code: "OC-6004",
          message: `timed out after ${task.timeout_ms} ms`,
          retryable: true,
        }),
      task.timeout_ms,
    );
    a.started = true;
    // The start is reported once the attempt has run worker.started_report_delay: a shorter one's
    // outcome says it all (one report and one record write fewer). The skill never waits for it;
    // the outcome's report waits for its ack, so the scheduler never reads them out of order.
    let startedReport: Promise<void> | undefined;
    const reportStarted = () => {
      startedReport = publishReport(this.#o.ctx.cluster, { ...this.#head(a), kind: "started" }, log);
    };
    const delay = ctx.config.worker.started_report_delay;
    const reportStart = delay > 0 ? setTimeout(reportStarted, delay) : undefined;
    if (delay === 0) reportStarted();
    let outcome: Outcome = failure("OC-5000", "not run", true);
    let actx: AttemptContext | undefined;
    try {
      if (!a.abortedWith) {
        const how = await resolveRun(task.task_type, this.#o.locate(task.task_type));
        const runnable = how.kind === "module" || how.kind === "command";
        actx = createContext({
          cluster: ctx.cluster,
          sender: ctx.sender,
          nodeId: this.#o.nodeId,
          taskId: task.task_id,
          attempt,
          payload: task.payload,
          signal: a.controller.signal,
          lastCheckpoint: runnable ? await checkpoint : undefined,
          log,
          allowedCommands: ctx.config.worker.allowed_commands,
        });
        log.debug({ skill: task.task_type, how: how.kind }, "running skill");
        outcome = await runSkill({
          how,
          ctx: actx.ctx,
          modules: this.#modules,
          maxResultBytes,
          killGraceMs: this.#o.killGraceMs ?? 3000,
          skillEnv: ctx.config.worker.skill_env,
        });
        a.finished = true;
        // A skill that ignored its abort writes nothing more; writes in flight land before the
        // report, so the next attempt sees the checkpoint this one ended with.
        if (a.abortedWith) actx.close();
        await actx.settled();
      }
    } catch (err) {
      outcome = failure("OC-5000", `the worker failed running the skill: ${errorMessage(err)}`, true);
    } finally {
      a.finished = true;
      clearTimeout(timer);
      actx?.close();
    }
    clearTimeout(reportStart);
    await startedReport;
    if (a.abortedWith) outcome = { ok: false, error: a.abortedWith };
    else if (outcome.ok) outcome = checkResult(outcome.result, maxResultBytes);
    const duration_ms = Math.round(performance.now() - began);
    const result = { skill: task.task_type, outcome: outcome.ok ? "succeeded" : outcome.error.code };
    workerMetrics.attempts.inc(result);
    workerMetrics.duration.observe(result, duration_ms / 1000);
    // Before the report: the scheduler may dispatch the next attempt here as soon as it reads it.
    this.#forget(a);
    if (a.reported) return;
    // Listed in heartbeats until the report is out, so the scheduler never takes it for lost.
    this.#reporting.add(a.taskId);
    try {
      await reportOutcome(ctx.cluster, this.#head(a), outcome, duration_ms, log);
    } finally {
      this.#reporting.delete(a.taskId);
    }
  }

  #head(a: Attempt) {
    return {
      ...envelope(this.#o.ctx.sender),
      task_id: a.taskId,
      attempt: a.attempt,
      node_id: this.#o.nodeId,
    };
  }

  #forget(a: Attempt): void {
    if (this.#attempts.get(a.taskId) === a) this.#attempts.delete(a.taskId);
    workerMetrics.running.set(this.#attempts.size);
    if (this.#attempts.size === 0) {
      this.#idle?.();
      this.#idle = undefined;
    }
  }

  #abort(a: Attempt, error: TaskError): void {
    if (a.finished || a.abortedWith) return;
    a.abortedWith = error;
    a.controller.abort(
      new DOMException(error.message, error.code === "OC-6004" ? "TimeoutError" : "AbortError"),
    );
  }

  #onCancel(data: Uint8Array): void {
    const d = decode(TaskAbort, data);
    if (!d.ok) {
      this.#o.log.warn({ error_code: "OC-2002", error: d.error }, "invalid cancel order dropped");
      return;
    }
    const { task_id, attempt, reason } = d.value;
    const a = this.#attempts.get(task_id);
    if (!a || a.attempt !== attempt) {
      this.#o.log.debug({ task_id, attempt }, "cancel order for an attempt not running here; ignored");
      return;
    }
    this.#abort(a, {
      code: "OC-6005",
      message: reason ? `cancelled: ${reason}` : "cancelled",
      retryable: false,
    });
  }
}
