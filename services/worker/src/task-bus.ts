import { type Cluster, decode, encode, errorMessage } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { type TaskDispatch, type TaskError, TaskRecord, type TaskReport } from "@openclaw/protocol";
import type { Outcome } from "./runtime/outcome.js";

const REPORT_TRIES = 4;

/**
 * Why a dispatch must not run, or undefined when the task record says it is this node's to run
 * now: the record exists, is at the dispatch's attempt, assigned here, `scheduled` and not being
 * cancelled. A record that cannot be read counts as stale: the scheduler re-dispatches lost work.
 */
export async function fence(
  cluster: Cluster,
  nodeId: string,
  { task, attempt }: TaskDispatch,
): Promise<string | undefined> {
  let entry: Awaited<ReturnType<Cluster["kv"]["tasks"]["get"]>>;
  try {
    entry = await cluster.kv.tasks.get(task.task_id);
  } catch (err) {
    return `the task record cannot be read: ${errorMessage(err)}`;
  }
  if (entry?.operation !== "PUT") return "no task record";
  const rec = decode(TaskRecord, entry.value);
  if (!rec.ok) return `the task record is invalid: ${rec.error}`;
  const r = rec.value;
  if (r.attempt !== attempt) return `the record is at attempt ${r.attempt}`;
  if (r.assigned_node !== nodeId) return `the record assigns it to ${r.assigned_node ?? "no node"}`;
  if (r.status !== "scheduled") return `the record's status is ${r.status}`;
  if (r.cancel_requested) return "cancel requested";
  return undefined;
}

/** Publishes a report into the scheduler's stream, retrying (deduplicated by its id) a few times. */
export async function publishReport(cluster: Cluster, report: TaskReport, log: Logger): Promise<void> {
  const { js, names } = cluster;
  for (let i = 1; ; i++) {
    try {
      await js.publish(names.subjects.schedReport(report.task_id), encode(report), {
        msgID: report.id,
        timeout: 5000,
      });
      return;
    } catch (err) {
      if (i >= REPORT_TRIES) {
        log.error({ error: errorMessage(err), error_code: "OC-2001", kind: report.kind }, "report lost");
        return;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** i));
    }
  }
}

/** Publishes a report once, waiting at most `timeoutMs` for the stream's ack (an emergency: no retries). */
export async function publishReportOnce(
  cluster: Cluster,
  report: TaskReport,
  timeoutMs: number,
): Promise<void> {
  const { js, names } = cluster;
  await js.publish(names.subjects.schedReport(report.task_id), encode(report), {
    msgID: report.id,
    timeout: timeoutMs,
  });
}

/** The fields every report of one attempt carries. */
export type ReportHead = Omit<TaskReport & { kind: "started" }, "kind">;

/**
 * Reports how an attempt ended: `succeeded` with its result, or `failed` with its error. A result
 * that fits `tasks.max_result_bytes` but not one NATS message is reported as OC-6007.
 */
export async function reportOutcome(
  cluster: Cluster,
  head: ReportHead,
  outcome: Outcome,
  duration_ms: number,
  log: Logger,
): Promise<void> {
  let error: TaskError;
  if (outcome.ok) {
    const report: TaskReport = { ...head, kind: "succeeded", result: outcome.result, duration_ms };
    const limit = cluster.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (encode(report).length <= limit) {
      log.info({ duration_ms }, "task succeeded");
      return publishReport(cluster, report, log);
    }
    error = {
      code: "OC-6007",
      message: `the result does not fit in one NATS message (${limit} bytes)`,
      retryable: false,
    };
  } else error = outcome.error;
  log.info(
    { duration_ms, error_code: error.code, retryable: error.retryable },
    `task failed: ${error.message}`,
  );
  return publishReport(cluster, { ...head, kind: "failed", error, duration_ms }, log);
}
