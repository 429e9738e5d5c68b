// One task in the side panel (`#/tasks/<id>`): its fields, input (payload), result or error,
// attempts and progress, followed live through its event stream until it ends.

import { ApiError, act, getJson, post, readEvents, showError } from "./api.js";
import { $, ago, el, fieldGrid, nodeLink, pretty, setText, status, time } from "./view.js";

/** Statuses after which a task runs no more (until retried). */
const ENDED = ["completed", "failed", "cancelled", "timeout"];
/** Statuses POST .../retry accepts (routes/tasks.ts RETRYABLE); any other answers 409. */
const RETRYABLE = ["failed", "timeout", "cancelled"];

let current = null;
let follow;
let redraw; // a redraw due soon: a burst of events (the history at open) makes one fetch

function redrawSoon() {
  if (redraw) return;
  redraw = setTimeout(() => {
    redraw = undefined;
    renderTask().catch((err) => showError(err.message));
  }, 100);
}

function showProgress(percent, text) {
  $("#task-progress").style.width = `${percent}%`;
  $("#task-progress-text").textContent = text;
}

function draw(t) {
  fieldGrid($("#task-fields"), [
    ["status", status(t.status)],
    ["skills", t.required_skills.join(", ")],
    ["priority", t.priority],
    ["node", nodeLink(t.assigned_node)],
    ["submitted", `${time(t.submitted_at)} (${ago(t.submitted_at)})`],
    ["attempt", String(t.attempt)],
    ["retries", `${t.retry_count} of ${t.max_retries}`],
    ...(t.waiting_reason ? [["waiting", t.waiting_reason]] : []),
    ...(t.next_attempt_at ? [["next attempt", time(t.next_attempt_at)]] : []),
    ...(t.cancel_requested && !ENDED.includes(t.status) ? [["cancel", "requested"]] : []),
  ]);
  const error = t.error ? `${t.error.code} ${t.error.message}` : "";
  setText($("#task-error"), error);
  $("#task-error-box").hidden = !error;
  setText($("#task-payload"), pretty(t.payload));
  const hasResult = t.result !== null && t.result !== undefined;
  setText($("#task-result"), hasResult ? pretty(t.result) : "");
  $("#task-result-box").hidden = !hasResult;
  const percent = t.status === "completed" ? 100 : (t.progress?.percent ?? 0);
  showProgress(percent, t.progress ? `${Math.round(t.progress.percent)}% ${t.progress.message}` : "");
  // A button shows only when the API would take it.
  $("#task-cancel").hidden = ENDED.includes(t.status);
  $("#task-retry").hidden = !RETRYABLE.includes(t.status);
  $("#task-attempts tbody").replaceChildren(
    ...t.attempts.map((a) =>
      el(
        "tr",
        {},
        el("td", {}, a.attempt),
        el("td", {}, nodeLink(a.node_id)),
        el("td", {}, status(a.status)),
        el("td", {}, time(a.started_at)),
        el("td", {}, time(a.ended_at)),
        el("td", { class: "wrap" }, a.error ? `${a.error.code} ${a.error.message}` : ""),
      ),
    ),
  );
}

/** Fetches and draws the open task; an unknown one says so instead. */
export async function renderTask() {
  const id = current;
  if (id === null) return;
  let t;
  try {
    t = await getJson(`/api/v1/tasks/${encodeURIComponent(id)}`);
  } catch (err) {
    if (current !== id) return;
    if (!(err instanceof ApiError) || err.status < 400 || err.status >= 500) throw err;
    $("#task-missing").textContent = err.status === 404 ? `no task ${id}` : err.message;
    $("#task-missing").hidden = false;
    $("#task-body").hidden = true;
    return;
  }
  if (current !== id) return;
  $("#task-missing").hidden = true;
  $("#task-body").hidden = false;
  draw(t);
  return t;
}

function followEvents(id) {
  follow?.abort();
  follow = new AbortController();
  // Its events until it ends: each one redraws it (a progress event moves the bar at once).
  readEvents(
    `/api/v1/tasks/${encodeURIComponent(id)}/events`,
    (e) => {
      if (current !== id) return;
      if (e.kind === "progress") showProgress(e.percent, `${Math.round(e.percent)}% ${e.message ?? ""}`);
      else redrawSoon();
    },
    follow.signal,
  )
    .then(() => current === id && redrawSoon())
    .catch(() => undefined);
}

export function openTask(id) {
  current = id;
  $("#task-detail").hidden = false;
  $("#task-id").textContent = id;
  $("#task-body").hidden = true;
  $("#task-missing").hidden = true;
  $("#task-attempts tbody").replaceChildren();
  renderTask()
    .then((t) => {
      if (t && current === id) followEvents(id);
    })
    .catch((err) => showError(err.message));
}

export function closeTask() {
  follow?.abort();
  current = null;
  $("#task-detail").hidden = true;
}

export function wireTaskActions() {
  $("#task-cancel").addEventListener("click", () =>
    act(() =>
      post(`/api/v1/tasks/${encodeURIComponent(current)}/cancel`, { reason: "cancelled from the dashboard" }),
    ),
  );
  $("#task-retry").addEventListener("click", () => {
    const id = current;
    return act(async () => {
      await post(`/api/v1/tasks/${encodeURIComponent(id)}/retry`);
      // A retried task runs again: follow its new attempt's events.
      if (current === id) followEvents(id);
    });
  });
}
