// One node in the side panel (`#/nodes/<id>`): its status, health, load, skills, labels, zone,
// breaker and drain, the tasks whose current or last attempt is on it, and its event history.

import { ApiError, act, getJson, post } from "./api.js";
import { $, ago, el, fieldGrid, status, taskLink, time } from "./view.js";

const TASKS_SHOWN = 25;
const EVENTS_SHOWN = 50;

let current = null;

const pct = (n) => (n === null || n === undefined ? "-" : `${Math.round(n)}%`);

function breakerText(b) {
  if (!b) return status("closed");
  const parts = [`${b.failures} failures`];
  if (b.retry_at && b.state === "open") parts.push(`trial at ${time(b.retry_at)}`);
  if (b.last_error) parts.push(`last error: ${b.last_error}`);
  return [status(b.state), ` ${parts.join("; ")}`];
}

/** An event's own fields, beyond the ones every event has (and the joined node's descriptor). */
function eventDetail(e) {
  const { seq: _s, node_id: _n, kind: _k, at: _a, node: _d, ...rest } = e;
  return Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

function draw(n, health, tasks, onNode, events) {
  const labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`);
  fieldGrid($("#node-fields"), [
    ["status", status(n.status)],
    [
      "health",
      [
        status(n.health ?? "not judged yet"),
        health.reason ? ` ${health.reason}` : "",
        health.missed_heartbeats ? `, ${health.missed_heartbeats} heartbeats missed` : "",
      ],
    ],
    ["heartbeat", `${ago(n.last_heartbeat)} (${time(n.last_heartbeat)})`],
    ["running / slots", `${n.running_tasks}/${n.max_concurrent_tasks} (its last heartbeat)`],
    ["on it", `${onNode} scheduled or running (task records)`],
    ["load", `cpu ${pct(n.cpu_usage)}, memory ${pct(n.memory_usage)}, disk ${pct(n.disk_usage)}`],
    ["zone", n.zone ?? "-"],
    ["labels", labels.length ? labels.join(", ") : "-"],
    ["breaker", breakerText(n.circuit_breaker)],
    ["drain", n.drain ? `since ${time(n.drain.since)} by ${n.drain.by}: ${n.drain.reason}` : "-"],
    [
      "attempts ended",
      `${n.total_tasks_processed} (${n.successful_tasks} completed, ${n.failed_tasks} failed), ` +
        `${n.average_execution_time.toFixed(2)} s on average`,
    ],
    [
      "host",
      `${n.hostname} ${n.platform}/${n.arch} ${n.ip_address}${n.tailscale_ip ? ` ${n.tailscale_ip}` : ""}`,
    ],
    ["version", n.agent_version],
    ["registered", `${time(n.registered_at)} (${ago(n.registered_at)})`],
    ...(n.left_at ? [["left", time(n.left_at)]] : []),
  ]);
  const drain = $("#node-drain");
  drain.hidden = n.status === "offline";
  drain.textContent = n.draining ? "Undrain" : "Drain";
  drain.dataset.action = n.draining ? "undrain" : "drain";
  $("#node-skills").replaceChildren(
    ...n.skills.map((s) =>
      el(
        "li",
        { "data-skill": s.name },
        el("b", {}, s.name),
        s.version ? ` ${s.version}` : "",
        s.description ? el("span", { class: "muted" }, ` ${s.description}`) : "",
      ),
    ),
  );
  $("#node-tasks tbody").replaceChildren(
    ...tasks.map((t) =>
      el(
        "tr",
        { "data-task": t.task_id },
        el("td", {}, taskLink(t.task_id)),
        el("td", { "data-field": "status" }, status(t.status)),
        el("td", {}, t.task_type),
        el("td", {}, t.attempt),
        el("td", {}, ago(t.submitted_at)),
        el("td", { class: "wrap" }, t.error ? `${t.error.code} ${t.error.message}` : ""),
      ),
    ),
  );
  $("#node-tasks-none").hidden = tasks.length > 0;
  $("#node-events tbody").replaceChildren(
    ...events.map((e) =>
      el(
        "tr",
        { "data-kind": e.kind },
        el("td", {}, time(e.at)),
        el("td", {}, status(e.kind)),
        el("td", { class: "wrap" }, eventDetail(e)),
      ),
    ),
  );
}

/** Fetches and draws the open node; an unknown one says so instead. */
export async function renderNode() {
  const id = current;
  if (id === null) return;
  const base = `/api/v1/nodes/${encodeURIComponent(id)}`;
  const node = encodeURIComponent(id);
  let answers;
  try {
    answers = await Promise.all([
      getJson(base),
      getJson(`${base}/health`),
      getJson(`/api/v1/tasks?node=${node}&limit=${TASKS_SHOWN}`),
      getJson(`/api/v1/tasks?node=${node}&status=scheduled,running&limit=1000`),
      getJson(`${base}/events?limit=${EVENTS_SHOWN}`),
    ]);
  } catch (err) {
    if (current !== id) return;
    if (!(err instanceof ApiError) || err.status < 400 || err.status >= 500) throw err;
    $("#node-missing").textContent = err.status === 404 ? `no node ${id}` : err.message;
    $("#node-missing").hidden = false;
    $("#node-body").hidden = true;
    return;
  }
  if (current !== id) return;
  const [n, health, recent, live, events] = answers;
  $("#node-missing").hidden = true;
  $("#node-body").hidden = false;
  draw(n, health, recent.tasks, live.tasks.length, events);
}

export function openNode(id) {
  current = id;
  $("#node-detail").hidden = false;
  $("#node-id").textContent = id;
  $("#node-body").hidden = true;
  $("#node-missing").hidden = true;
  return renderNode();
}

export function closeNode() {
  current = null;
  $("#node-detail").hidden = true;
}

export function wireNodeActions() {
  $("#node-drain").addEventListener("click", (e) => {
    const action = e.currentTarget.dataset.action;
    return act(() =>
      post(`/api/v1/nodes/${encodeURIComponent(current)}/${action}`, { reason: "from the dashboard" }),
    );
  });
}
