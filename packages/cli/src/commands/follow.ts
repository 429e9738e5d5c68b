import { bar, oneLine, statusPaint } from "../render.js";
import type { ApiRun } from "./api.js";
import { printJson, seg } from "./api.js";
import { EXIT } from "./service.js";
import type { ApiTask } from "./tasks.js";

const ENDED = new Set(["completed", "failed", "cancelled", "timeout"]);

interface StreamEvent {
  kind: string;
  at: string;
  percent?: number;
  message?: string;
  node_id?: string;
  attempt?: number;
  task?: {
    status: string;
    assigned_node: string | null;
    attempt: number;
    error: { code: string; message: string } | null;
    waiting_reason?: string | null;
  };
  result?: unknown;
}

/** Splits a server-sent event stream into its `data:` payloads, as they arrive. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) yield data;
    }
  }
}

function describe(e: StreamEvent): string {
  const t = e.task;
  switch (e.kind) {
    case "scheduled":
      return `on ${t?.assigned_node ?? "?"} (attempt ${t?.attempt ?? "?"})`;
    case "waiting":
      return t?.waiting_reason ?? "";
    case "progress":
      return `${e.percent ?? 0}% ${e.message ?? ""}`;
    case "completed":
      return e.result === undefined ? "" : JSON.stringify(e.result).slice(0, 200);
    case "failed":
    case "timeout":
    case "retrying":
      return t?.error ? `${t.error.code} ${oneLine(t.error.message)}` : "";
    default:
      return "";
  }
}

/**
 * Follows a task's events (`GET /api/v1/tasks/{id}/events`) until it ends: a line per event, and
 * on a terminal a progress bar that redraws in place. Exit 0 if it completed, 1 otherwise.
 */
export async function followTask({ api, c, ec }: ApiRun, id: string, json: boolean): Promise<number> {
  const res = await api.fetch(`/api/v1/tasks/${seg(id)}/events`, {
    headers: { accept: "text/event-stream" },
  });
  if (res.status !== 200 && res.status !== 204) {
    // The same error shape as every other answer (404 unknown task, 400 malformed id).
    await api.get(`/api/v1/tasks/${seg(id)}`);
    throw new Error(`the event stream answered ${res.status}`);
  }
  const tty = process.stdout.isTTY === true && !json;
  let barShown = false;
  let percent = 0;
  let last: string | undefined;
  if (res.body && res.status === 200) {
    for await (const data of sseData(res.body)) {
      const e = JSON.parse(data) as StreamEvent;
      if (json) {
        printJson(e);
      } else if (tty && (e.kind === "progress" || e.kind === "checkpointed")) {
        // One bar, redrawn in place: a checkpoint between two progress reports shows on it too.
        if (e.kind === "progress") percent = e.percent ?? percent;
        const note = e.kind === "progress" ? (e.message ?? "") : "checkpoint saved";
        process.stdout.write(`\r${bar(percent)} ${oneLine(note, 40).padEnd(40)}`);
        barShown = true;
      } else {
        if (barShown) process.stdout.write("\n");
        barShown = false;
        const time = e.at.slice(11, 23);
        const detail = describe(e);
        const kind = statusPaint(e.kind, c)(detail ? e.kind.padEnd(10) : e.kind);
        process.stdout.write(`${c.dim(time)}  ${kind}${detail ? `  ${detail}` : ""}\n`);
      }
      if (ENDED.has(e.kind)) last = e.kind;
    }
  }
  if (barShown) process.stdout.write("\n");
  // The stream ends with the task (or answered 204: it had ended, nothing left to send).
  const status = last ?? (await api.get<ApiTask>(`/api/v1/tasks/${seg(id)}`)).status;
  if (!ENDED.has(status)) {
    process.stderr.write(`${ec.yellow("oclaw task:")} the event stream closed while the task is ${status}\n`);
    return EXIT.failed;
  }
  return status === "completed" ? EXIT.ok : EXIT.failed;
}
