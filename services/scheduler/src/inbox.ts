import { decode, type JsMsg } from "@openclaw/bus";
import {
  fieldIssues,
  formatIssues,
  type Names,
  TaskCancel,
  TaskReport,
  TaskRetry,
  TaskSubmit,
  TaskSubmitBatch,
} from "@openclaw/protocol";

/** What handling needs of an inbox message: a whole one, or one entry of a batch. */
export interface InboxMsg {
  readonly seq: number;
  readonly subject: string;
  /** The bytes of the message as published (for a batch entry: the whole batch). */
  readonly data: Uint8Array;
  /** Which delivery of the message this is (1 for the first). */
  readonly deliveries: number;
  /** For a batch entry: which one (0-based). */
  readonly entry?: number;
  ack(): void;
  nak(millis?: number): void;
  /**
   * Given up on for good (bad input, or failing on its last delivery): a message is terminated,
   * never delivered again; a batch entry counts as done, so the batch's other entries still are.
   */
  term(): void;
}

function whole(m: JsMsg): InboxMsg {
  return {
    seq: m.seq,
    subject: m.subject,
    data: m.data,
    deliveries: m.info.deliveryCount,
    ack: () => m.ack(),
    nak: (millis?: number) => m.nak(millis),
    term: () => m.term(),
  };
}

/**
 * The entries of one batch message: the message is acknowledged once every entry is, and
 * delivered again (all of it) if any entry fails; entries handled before are then found done.
 */
function shareMessage(m: JsMsg, parts: number): (entry: number) => InboxMsg {
  let left = parts;
  let failed = false;
  const ack = () => {
    left -= 1;
    if (left === 0 && !failed) m.ack();
  };
  return (entry) => ({
    seq: m.seq,
    subject: m.subject,
    data: m.data,
    deliveries: m.info.deliveryCount,
    entry,
    ack,
    nak(millis?: number) {
      if (failed) return;
      failed = true;
      m.nak(millis);
    },
    term: ack,
  });
}

/** An inbox message, validated, with the task it is about. */
export type Inbound = { m: InboxMsg } & (
  | { ok: false; error: string }
  | ({ ok: true; taskId: string } & (
      | { kind: "submit"; value: TaskSubmit }
      | { kind: "cancel"; value: TaskCancel }
      | { kind: "retry"; value: TaskRetry }
      | { kind: "report"; value: TaskReport }
    ))
);

/**
 * Validates an inbox message once, and tells which task it is about: one entry, or one for each
 * submission of a batch (an entry that is not a valid submission is dropped on its own).
 */
export function parseInbound(names: Names, m: JsMsg): Inbound[] {
  if (m.subject === names.subjects.schedSubmitBatch) {
    const d = decode(TaskSubmitBatch, m.data);
    if (!d.ok) return [{ m: whole(m), ok: false, error: d.error }];
    const shared = shareMessage(m, d.value.submissions.length);
    return d.value.submissions.map((entry, i): Inbound => {
      const e = TaskSubmit.safeParse(entry);
      return e.success
        ? { m: shared(i), ok: true, kind: "submit", value: e.data, taskId: e.data.task.task_id }
        : {
            m: shared(i),
            ok: false,
            error: `submission ${i} of the batch: ${formatIssues(fieldIssues(e.error))}`,
          };
    });
  }
  return [parseOne(names, whole(m))];
}

function parseOne(names: Names, m: InboxMsg): Inbound {
  const s = names.subjects;
  if (m.subject === s.schedSubmit) {
    const d = decode(TaskSubmit, m.data);
    return d.ok
      ? { m, ok: true, kind: "submit", value: d.value, taskId: d.value.task.task_id }
      : { m, ok: false, error: d.error };
  }
  if (m.subject === s.schedCancel) {
    const d = decode(TaskCancel, m.data);
    return d.ok
      ? { m, ok: true, kind: "cancel", value: d.value, taskId: d.value.task_id }
      : { m, ok: false, error: d.error };
  }
  if (m.subject === s.schedRetry) {
    const d = decode(TaskRetry, m.data);
    return d.ok
      ? { m, ok: true, kind: "retry", value: d.value, taskId: d.value.task_id }
      : { m, ok: false, error: d.error };
  }
  if (m.subject.startsWith(`${names.prefix}.sched.report.`)) {
    const d = decode(TaskReport, m.data);
    if (!d.ok) return { m, ok: false, error: d.error };
    // A report is about the task its subject names: one that names another in its body is forged
    // or broken (it was applied to the task in the body).
    if (m.subject !== s.schedReport(d.value.task_id)) {
      return { m, ok: false, error: `report for task '${d.value.task_id}' published on ${m.subject}` };
    }
    return { m, ok: true, kind: "report", value: d.value, taskId: d.value.task_id };
  }
  return { m, ok: false, error: "unknown subject" };
}

/** Whether `next` is the outcome of the attempt `inbound` reports started (both in one batch). */
export function outcomeOf(inbound: Inbound, next: Inbound | undefined): boolean {
  if (!inbound.ok || inbound.kind !== "report" || inbound.value.kind !== "started") return false;
  if (!next?.ok || next.kind !== "report" || next.value.kind === "started") return false;
  return next.value.attempt === inbound.value.attempt && next.value.node_id === inbound.value.node_id;
}
