import type { Command } from "commander";
import { ago, type Colors, fields, oneLine, span, statusPaint, table } from "../render.js";
import { type ApiOptions, apiFlags, printJson, seg, withApi } from "./api.js";
import { followTask } from "./follow.js";
import { EXIT } from "./service.js";

/** The fields of a task record (`GET /api/v1/tasks/{id}`) the CLI shows. */
export interface ApiTask {
  task_id: string;
  task_type: string;
  name: string | null;
  status: string;
  priority: string;
  required_skills: string[];
  assigned_node: string | null;
  submitted_at: string;
  scheduled_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  retry_count: number;
  max_retries: number;
  attempt: number;
  attempts: {
    attempt: number;
    node_id: string;
    status: string;
    scheduled_at: string | null;
    started_at: string | null;
    ended_at: string | null;
    error: { code: string; message: string } | null;
  }[];
  progress: { percent: number; message: string } | null;
  waiting_reason: string | null;
  next_attempt_at: string | null;
  error: { code: string; message: string } | null;
  result?: unknown;
}

interface TasksOptions extends ApiOptions {
  status?: string;
  skill?: string;
  node?: string;
  limit?: string;
  cursor?: string;
}

/** How long a task ran, or has been running, or waited. */
function took(t: ApiTask, now: number): string {
  if (t.started_at)
    return span((t.completed_at ? Date.parse(t.completed_at) : now) - Date.parse(t.started_at));
  return "-";
}

function taskRow(t: ApiTask, c: Colors, now: number) {
  const note =
    t.status === "pending" && t.waiting_reason
      ? t.waiting_reason
      : t.error
        ? `${t.error.code} ${t.error.message}`
        : t.progress && t.status === "running"
          ? `${t.progress.percent}% ${t.progress.message}`
          : "";
  return [
    t.task_id,
    { text: t.status, paint: statusPaint(t.status, c) },
    t.task_type,
    t.priority,
    t.assigned_node ?? "-",
    String(t.attempt),
    ago(t.submitted_at, now),
    took(t, now),
    { text: note.length > 60 ? `${note.slice(0, 59)}…` : note, paint: c.dim },
  ];
}

/** `oclaw tasks [--status S] [--skill S] [--node N]`: tasks newest first, a page at a time. */
export function tasks(o: TasksOptions): Promise<void> {
  return withApi("tasks", o, async ({ api, c, ec }) => {
    const q = new URLSearchParams();
    for (const [k, v] of [
      ["status", o.status],
      ["skill", o.skill],
      ["node", o.node],
      ["limit", o.limit ?? "50"],
      ["cursor", o.cursor],
    ] as const)
      if (v !== undefined) q.set(k, v);
    const page = await api.get<{ tasks: ApiTask[]; next_cursor: string | null }>(`/api/v1/tasks?${q}`);
    if (o.json) {
      printJson(page);
      return EXIT.ok;
    }
    if (page.tasks.length === 0) process.stderr.write("no tasks match\n");
    else {
      const now = Date.now();
      const header = ["TASK", "STATUS", "SKILL", "PRIORITY", "NODE", "ATTEMPT", "SUBMITTED", "RAN", "NOTE"];
      process.stdout.write(
        `${table(
          header,
          page.tasks.map((t) => taskRow(t, c, now)),
          c,
        )}\n`,
      );
    }
    if (page.next_cursor) process.stderr.write(ec.dim(`more: add --cursor ${page.next_cursor}\n`));
    return EXIT.ok;
  });
}

/** `oclaw task <id> [--follow]`: one task with its attempts; with --follow, its events until it ends. */
export function task(id: string, o: ApiOptions & { follow?: boolean }): Promise<void> {
  return withApi("task", o, async (run) => {
    if (o.follow) return followTask(run, id, o.json === true);
    const { api, c } = run;
    const t = await api.get<ApiTask>(`/api/v1/tasks/${seg(id)}`);
    if (o.json) {
      printJson(t);
      return EXIT.ok;
    }
    const now = Date.now();
    const pairs: [string, string][] = [
      ["task", c.bold(t.task_id)],
      ["status", statusPaint(t.status, c)(t.status)],
      ["skills", t.required_skills.join(", ")],
      ["priority", t.priority],
      ["node", t.assigned_node ?? "-"],
      ["submitted", `${t.submitted_at} (${ago(t.submitted_at, now)})`],
      ["ran", took(t, now)],
      ["retries", `${t.retry_count} of ${t.max_retries}`],
    ];
    if (t.waiting_reason) pairs.push(["waiting", c.yellow(t.waiting_reason)]);
    if (t.next_attempt_at) pairs.push(["next attempt", t.next_attempt_at]);
    if (t.progress) pairs.push(["progress", `${t.progress.percent}% ${t.progress.message}`.trimEnd()]);
    if (t.error) pairs.push(["error", c.red(`${t.error.code} ${t.error.message}`)]);
    if (t.result !== undefined && t.result !== null) pairs.push(["result", JSON.stringify(t.result)]);
    process.stdout.write(`${fields(pairs, c)}\n`);
    if (t.attempts.length > 0) {
      const rows = t.attempts.map((a) => [
        String(a.attempt),
        a.node_id,
        { text: a.status, paint: statusPaint(a.status, c) },
        a.started_at ?? "-",
        a.started_at ? span((a.ended_at ? Date.parse(a.ended_at) : now) - Date.parse(a.started_at)) : "-",
        // In full once, as the task's error above; each attempt's in one line.
        a.error ? `${a.error.code} ${oneLine(a.error.message, 80)}` : "",
      ]);
      process.stdout.write(`\n${table(["ATTEMPT", "NODE", "STATUS", "STARTED", "RAN", "ERROR"], rows, c)}\n`);
    }
    return EXIT.ok;
  });
}

/** `oclaw cancel <id>` and `oclaw retry <id>`. */
function change(
  action: "cancel" | "retry",
  id: string,
  o: ApiOptions & { reason?: string; fresh?: boolean },
): Promise<void> {
  return withApi(action, o, async ({ api, c }) => {
    const body =
      action === "cancel" && o.reason
        ? { reason: o.reason }
        : action === "retry" && o.fresh
          ? { fresh: true }
          : undefined;
    const res = await api.post<{ task_id: string; status: string }>(
      `/api/v1/tasks/${seg(id)}/${action}`,
      body,
    );
    if (o.json) printJson(res);
    else {
      const what =
        action === "cancel" ? "cancel requested" : o.fresh ? "queued again, from the start" : "queued again";
      process.stdout.write(`${c.bold(res.task_id)}: ${what} (it was ${res.status})\n`);
    }
    return EXIT.ok;
  });
}

export function registerTaskCommands(program: Command): void {
  apiFlags(
    program
      .command("tasks")
      .description("list tasks, newest first")
      .option("--status <list>", "only these statuses, comma separated (e.g. failed,timeout)")
      .option("--skill <skill>", "only tasks that need this skill")
      .option("--node <id>", "only tasks on this node")
      .option("--limit <n>", "tasks per page, 1-1000", "50")
      .option("--cursor <cursor>", "the next page, as the previous one printed"),
  ).action((opts: TasksOptions) => tasks(opts));
  apiFlags(
    program
      .command("task")
      .description("one task with its attempts; --follow prints its events until it ends")
      .argument("<id>", "task id")
      .option("--follow", "follow its events (a progress bar on a terminal); exit 1 unless it completes"),
  ).action((id: string, opts: ApiOptions & { follow?: boolean }) => task(id, opts));
  apiFlags(
    program
      .command("cancel")
      .description("cancel a task; a running attempt is told to stop")
      .argument("<id>", "task id")
      .option("--reason <text>", "why, kept with the task"),
  ).action((id: string, opts: ApiOptions & { reason?: string }) => change("cancel", id, opts));
  apiFlags(
    program
      .command("retry")
      .description(
        "put a failed, timed-out or cancelled task back in the queue; it resumes from its last checkpoint",
      )
      .argument("<id>", "task id")
      .option("--fresh", "start over: drop its last checkpoint"),
  ).action((id: string, opts: ApiOptions & { fresh?: boolean }) => change("retry", id, opts));
}
