import { decode, type JsMsg } from "@openclaw/bus";
import { type Names, TaskCancel, TaskReport, TaskRetry, TaskSubmit } from "@openclaw/protocol";

/** An inbox message, validated, with the task it is about. */
export type Inbound = { m: JsMsg } & (
  | { ok: false; error: string }
  | ({ ok: true; taskId: string } & (
      | { kind: "submit"; value: TaskSubmit }
      | { kind: "cancel"; value: TaskCancel }
      | { kind: "retry"; value: TaskRetry }
      | { kind: "report"; value: TaskReport }
    ))
);

/** Validates an inbox message once, and tells which task it is about. */
export function parseInbound(names: Names, m: JsMsg): Inbound {
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
    return d.ok
      ? { m, ok: true, kind: "report", value: d.value, taskId: d.value.task_id }
      : { m, ok: false, error: d.error };
  }
  return { m, ok: false, error: "unknown subject" };
}

/** Whether `next` is the outcome of the attempt `inbound` reports started (both in one batch). */
export function outcomeOf(inbound: Inbound, next: Inbound | undefined): boolean {
  if (!inbound.ok || inbound.kind !== "report" || inbound.value.kind !== "started") return false;
  if (!next?.ok || next.kind !== "report" || next.value.kind === "started") return false;
  return next.value.attempt === inbound.value.attempt && next.value.node_id === inbound.value.node_id;
}
