import { encode } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import type { TaskError, TaskReport } from "@openclaw/protocol";
import type { Held, TaskBook } from "./book.js";
import { countsAgainstNode } from "./breaker.js";
import type { NodeTable } from "./node-table.js";
import { started, succeeded } from "./records.js";

export interface ReportDeps {
  book: TaskBook;
  nodes: NodeTable;
  log: Logger;
  requestSchedule(): void;
}

/**
 * The attempt started, and its outcome is at hand: the record goes straight to the outcome (one
 * write, not two); the started event still goes out first, with the record as it would have been.
 */
function startedUnwritten(book: TaskBook, held: Held, now: number): void {
  const running = started(held.record, now);
  void book.events.publish("started", running, held.revision, {}, "-started");
  held.record = running;
}

/**
 * A worker's report about an attempt: started, succeeded (the task is done) or failed (retried
 * after the backoff, taken back when the worker lost it, or final). Only the current attempt on
 * the node it was given to counts; anything else is stale and ignored.
 *
 * @param outcomeFollows a start whose outcome is next in the same batch
 */
export async function applyReport(d: ReportDeps, report: TaskReport, outcomeFollows = false): Promise<void> {
  const book = d.book;
  const r = report;
  const held = book.tasks.get(r.task_id);
  // Fencing: only the current attempt on the node it was given to may change the task.
  if (!held || held.record.attempt !== r.attempt || held.record.assigned_node !== r.node_id) {
    d.log.debug({ task_id: r.task_id, attempt: r.attempt, node_id: r.node_id }, "stale report ignored");
    return;
  }
  const now = Date.now();
  if (r.kind === "started") {
    if (held.record.status !== "scheduled") return;
    if (outcomeFollows) startedUnwritten(book, held, now);
    else {
      await book.save(held, started(held.record, now));
      void book.event("started", held);
    }
    return;
  }
  // A worker reports a start only once its attempt has run a moment: the outcome of a shorter one
  // (not a hand-back before it began) says it started too.
  if (held.record.status === "scheduled" && (r.kind === "succeeded" || r.error.code !== "OC-6009"))
    startedUnwritten(book, held, now - r.duration_ms);
  const before = held.record;
  if (r.kind === "succeeded") {
    const rec = succeeded(before, r.result, now);
    if (!book.fits(rec)) {
      // A result that cannot be stored with its task would be retried forever: fail it instead.
      const error: TaskError = {
        code: "OC-6007",
        message: `the result (${encode(r.result).length} bytes) does not fit the task record under the NATS server's max_payload; return less, or a reference to where the data is`,
        retryable: false,
      };
      await book.attemptFailed(held, error, now);
      return;
    }
    await book.save(held, rec);
    book.finish(r.task_id, before);
    d.nodes.recordOutcome(r.node_id, true, r.duration_ms);
    book.breakers.succeeded(r.node_id, now);
    void book.event("completed", held, { result: r.result });
    d.requestSchedule();
    return;
  }
  if (r.error.code === "OC-6009") {
    // The worker stopped, drained or crashed under the attempt: not the task's fault.
    await book.takeBack(held, r.error.message || `node ${r.node_id} lost the attempt`, now);
    return;
  }
  // Only a failure the node caused counts against it; one the task's input can cause never does.
  if (countsAgainstNode(r.error)) {
    d.nodes.recordOutcome(r.node_id, false, r.duration_ms);
    book.breakers.failed(r.node_id, `${r.error.code}: ${r.error.message}`, now);
  }
  await book.attemptFailed(held, r.error, now);
}
