import { decode, encode } from "@openclaw/bus";
import {
  type AttemptRecord,
  envelope,
  isTerminal,
  parseDuration,
  TaskEvent,
  TaskRecord,
  type TaskStatus,
} from "@openclaw/protocol";
import type { Connection } from "./connection.js";
import { TaskFailedError, WaitTimeoutError } from "./errors.js";

export interface Progress {
  percent: number;
  message: string;
  attempt: number;
  nodeId: string;
}

export interface JobResult<T = unknown> {
  /** The skill's result. */
  data: T;
  taskId: string;
  status: "completed";
  /** The node that produced the result. */
  nodeId: string | null;
  attempts: AttemptRecord[];
  durationMs: number | null;
}

export interface WaitOptions {
  /**
   * true (default): wait through retries and moves to other nodes. false: reject as soon as one
   * attempt fails.
   */
  failover?: boolean;
  /** Give up waiting after this long (`"10m"`, `"30s"` or milliseconds); the task goes on. */
  timeout?: string | number;
}

/**
 * Stands for a job's result in another task's payload before it exists: `submitTask` waits for it
 * and puts the result there (null if that job failed). Seed 000's map-reduce passes `job.data` on.
 */
export class PendingResult {
  constructor(readonly job: Job) {}
  toJSON(): never {
    throw new Error(
      `the result of task ${this.job.id} is not known yet; pass it to submitTask, or await job.wait()`,
    );
  }
}

/** A submitted task. */
export class Job<T = unknown> {
  readonly id: string;
  readonly #conn: Connection;
  #result: JobResult<T> | undefined;
  #status: TaskStatus = "pending";
  #pending: PendingResult | undefined;
  #settled: Promise<JobResult<T>> | undefined;

  constructor(conn: Connection, id: string) {
    this.#conn = conn;
    this.id = id;
  }

  get status(): TaskStatus {
    return this.#status;
  }

  /** The result once the task completed; before, a placeholder that `submitTask` resolves in payloads. */
  get data(): T | PendingResult {
    if (this.#result) return this.#result.data;
    this.#pending ??= new PendingResult(this as Job);
    return this.#pending;
  }

  /** Resolves with the result, or rejects with the task's error (TaskFailedError). */
  wait(options: WaitOptions = {}): Promise<JobResult<T>> {
    const failover = options.failover ?? true;
    const timeoutMs =
      options.timeout === undefined
        ? undefined
        : typeof options.timeout === "number"
          ? options.timeout
          : parseDuration(options.timeout);
    if (failover && timeoutMs === undefined) {
      this.#settled ??= this.#watch(true, undefined);
      return this.#settled;
    }
    return this.#watch(failover, timeoutMs);
  }

  /** Asks the scheduler to cancel the task; a running attempt's AbortSignal fires on its node. */
  async cancel(reason = "cancelled by the client"): Promise<void> {
    const { cluster, sender } = this.#conn;
    await cluster.js.publish(
      cluster.names.subjects.schedCancel,
      encode({ ...envelope(sender), task_id: this.id, reason }),
    );
  }

  /** Calls `fn` with every progress report of the current attempt until the task ends. */
  onProgress(fn: (p: Progress) => void): () => void {
    const { cluster } = this.#conn;
    const sub = cluster.nc.subscribe(cluster.names.subjects.taskEvent(this.id, "progress"), {
      callback: (_err, msg) => {
        const d = decode(TaskEvent, msg.data);
        if (d.ok && d.value.kind === "progress") {
          fn({
            percent: d.value.percent,
            message: d.value.message,
            attempt: d.value.attempt,
            nodeId: d.value.node_id,
          });
        }
      },
    });
    void this.wait().then(
      () => sub.unsubscribe(),
      () => sub.unsubscribe(),
    );
    return () => sub.unsubscribe();
  }

  #watch(failover: boolean, timeoutMs: number | undefined): Promise<JobResult<T>> {
    const { cluster } = this.#conn;
    return new Promise<JobResult<T>>((resolve, reject) => {
      let done = false;
      const finish = (record: TaskRecord | undefined, result: unknown, kind: string) => {
        if (done) return;
        if (record) this.#status = record.status;
        if (kind === "completed" && record) {
          done = true;
          const last = record.attempts[record.attempts.length - 1];
          const r: JobResult<T> = {
            data: result as T,
            taskId: this.id,
            status: "completed",
            nodeId: last?.node_id ?? record.assigned_node,
            attempts: record.attempts,
            durationMs:
              last?.started_at && last.ended_at
                ? Date.parse(last.ended_at) - Date.parse(last.started_at)
                : null,
          };
          this.#result = r;
          cleanup();
          resolve(r);
        } else if (record && (isTerminal(record.status) || (!failover && kind === "retrying"))) {
          done = true;
          cleanup();
          reject(
            new TaskFailedError(
              this.id,
              record.status === "pending" ? "failed" : record.status,
              record.error,
              record.attempts,
            ),
          );
        }
      };
      // Subscribe first, then read the record: no transition can slip between the two.
      const sub = cluster.nc.subscribe(cluster.names.subjects.taskEventsOf(this.id), {
        callback: (_err, msg) => {
          const d = decode(TaskEvent, msg.data);
          if (!d.ok || !("task" in d.value)) return;
          const e = d.value;
          finish(
            { ...e.task, spec: { ...e.task.spec, payload: null }, result: null } as TaskRecord,
            "result" in e ? e.result : null,
            e.kind,
          );
        },
      });
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              if (done) return;
              done = true;
              cleanup();
              reject(new WaitTimeoutError(this.id, timeoutMs));
            }, timeoutMs);
      const cleanup = () => {
        sub.unsubscribe();
        if (timer) clearTimeout(timer);
      };
      void cluster.kv.tasks
        .get(this.id)
        .then((entry) => {
          if (entry?.operation !== "PUT") return;
          const d = decode(TaskRecord, entry.value);
          if (d.ok && isTerminal(d.value.status)) finish(d.value, d.value.result, d.value.status);
        })
        .catch(() => undefined);
    });
  }
}
