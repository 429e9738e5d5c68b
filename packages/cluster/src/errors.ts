import type { AttemptRecord, TaskError, TaskStatus } from "@openclaw/protocol";

/** The task ended without a result: failed, timed out or cancelled. Carries the task's own error. */
export class TaskFailedError extends Error {
  override readonly name = "TaskFailedError";
  readonly taskId: string;
  readonly status: TaskStatus;
  readonly code: string;
  readonly retryable: boolean;
  readonly attempts: AttemptRecord[];

  constructor(taskId: string, status: TaskStatus, error: TaskError | null, attempts: AttemptRecord[]) {
    super(`task ${taskId} ${status}: ${error ? `[${error.code}] ${error.message}` : "no result"}`);
    this.taskId = taskId;
    this.status = status;
    this.code = error?.code ?? "OC-5000";
    this.retryable = error?.retryable ?? false;
    this.attempts = attempts;
  }
}

/** `job.wait({ timeout })` ran out; the task itself goes on. */
export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  readonly taskId: string;
  constructor(taskId: string, timeoutMs: number) {
    super(`task ${taskId} did not finish within ${timeoutMs} ms (it keeps running; wait again or cancel it)`);
    this.taskId = taskId;
  }
}
