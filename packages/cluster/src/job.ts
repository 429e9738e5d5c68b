import { decode, encode } from "@openclaw/bus";
import {
  type AttemptRecord,
  envelope,
  isTerminal,
  OcError,
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
  /**
   * Told why the task waits for a node (`"no online node has skill translate"`) whenever that
   * changes, and `null` once it is placed.
   */
  onWaiting?: (reason: string | null) => void;
}

/**
 * Stands for a job's result in another task's payload before it exists: `submitTask` waits for it
 * and puts the result there (null if that job failed). A map-reduce passes `job.data` on this way.
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
    if (failover && timeoutMs === undefined && !options.onWaiting) {
      this.#settled ??= this.#watch(true, undefined);
      return this.#settled;
    }
    return this.#watch(failover, timeoutMs, options.onWaiting);
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

  /**
   * Follows the task's record in the `tasks` bucket (a KV watch on its key: the current value
   * first, then every update) and settles on its status. Events are not used for this: one
   * published while this client was disconnected, or never published, would be missed. The
   * watch is started again after a reconnect or a failure, which replays the current value.
   */
  #watch(
    failover: boolean,
    timeoutMs: number | undefined,
    onWaiting?: (reason: string | null) => void,
  ): Promise<JobResult<T>> {
    const conn = this.#conn;
    const { cluster } = conn;
    return new Promise<JobResult<T>>((resolve, reject) => {
      let done = false;
      let waitingFor: string | null = null;
      let watch: { stop(): void } | undefined;
      let wake: (() => void) | undefined;
      let restartNow = false;
      const settle = (record: TaskRecord) => {
        if (done) return;
        this.#status = record.status;
        if (onWaiting && record.waiting_reason !== waitingFor) {
          waitingFor = record.waiting_reason;
          onWaiting(waitingFor);
        }
        if (record.status === "completed") {
          const last = record.attempts[record.attempts.length - 1];
          const r: JobResult<T> = {
            data: record.result as T,
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
          end();
          resolve(r);
        } else if (isTerminal(record.status)) {
          end();
          reject(new TaskFailedError(this.id, record.status, record.error, record.attempts));
        } else if (!failover && attemptFailed(record)) {
          end();
          const status = record.error?.code === "OC-6004" ? "timeout" : "failed";
          reject(new TaskFailedError(this.id, status, record.error, record.attempts));
        }
      };
      const fail = (err: Error) => {
        if (done) return;
        end();
        reject(err);
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => fail(new WaitTimeoutError(this.id, timeoutMs)), timeoutMs);
      // After a reconnect the old watch may sit silent until its heartbeats are missed: start afresh.
      const offReconnect = conn.onReconnect(() => {
        restartNow = true;
        watch?.stop();
      });
      const end = () => {
        done = true;
        if (timer) clearTimeout(timer);
        offReconnect();
        watch?.stop();
        wake?.();
      };
      void (async () => {
        while (!done) {
          try {
            const w = await cluster.kv.tasks.watch({ key: this.id });
            watch = w;
            if (done) w.stop();
            for await (const entry of w) {
              if (entry.operation !== "PUT") continue;
              const d = decode(TaskRecord, entry.value);
              if (d.ok && d.value.spec.task_id === this.id) settle(d.value);
            }
            if (watch === w) watch = undefined;
            // Stopped after a reconnect: watch again at once (else after a pause, below).
            if (restartNow) {
              restartNow = false;
              continue;
            }
          } catch {
            // Not connected yet, JetStream not back yet, ...: try again shortly.
          }
          if (cluster.nc.isClosed()) {
            fail(new OcError("OC-2001", `the cluster client was closed while waiting for task ${this.id}`));
            return;
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, WATCH_RETRY_MS);
          });
        }
      })();
    });
  }
}

/** Wait this long before watching a task's record again after a failed watch. */
const WATCH_RETRY_MS = 500;

/**
 * An attempt of the task failed and it waits for the next: the scheduler puts a failed attempt's
 * error on the record, and only a manual retry clears it. A lost attempt (OC-6009: its node
 * stopped or died) is not the task's failure.
 */
function attemptFailed(record: TaskRecord): boolean {
  return !isTerminal(record.status) && record.error !== null && record.error.code !== "OC-6009";
}
