// The nodes and tasks tables, a page at a time (1,000 nodes and 100,000 tasks never come down
// whole). A click on a row opens its detail in the side panel.

import { act, api, getJson, post } from "./api.js";
import { go } from "./router.js";
import { $, ago, el, nodeHash, shortList, status, taskHash } from "./view.js";

const NODES_PAGE = 50;
const TASKS_PAGE = 25;

const pages = { nodeOffset: 0, nodeTotal: 0, taskCursors: [null], taskPage: 0, taskNext: null };

/** A row that opens a detail, except from a click on a button or link inside it. */
const rowOpens = (hash) => (e) => {
  if (!e.target.closest("a, button")) go(hash);
};

function drainButton(n) {
  if (n.status === "offline") return "";
  const action = n.draining ? "undrain" : "drain";
  return el(
    "button",
    {
      type: "button",
      "data-action": action,
      onclick: () =>
        act(() =>
          post(`/api/v1/nodes/${encodeURIComponent(n.node_id)}/${action}`, { reason: "from the dashboard" }),
        ),
    },
    n.draining ? "Undrain" : "Drain",
  );
}

export async function refreshNodes() {
  const statusFilter = $("#node-status").value;
  const skill = $("#node-skill").value.trim();
  const q = new URLSearchParams({ limit: String(NODES_PAGE), offset: String(pages.nodeOffset) });
  if (statusFilter) q.set("status", statusFilter);
  else if (skill) q.set("status", "any");
  const path = skill ? `/api/v1/nodes/skills/${encodeURIComponent(skill)}?${q}` : `/api/v1/nodes?${q}`;
  const res = await api(path);
  const nodes = await res.json();
  pages.nodeTotal = Number(res.headers.get("x-total-count") ?? nodes.length);
  $("#nodes-range").textContent = pages.nodeTotal
    ? `${pages.nodeOffset + 1}-${pages.nodeOffset + nodes.length} of ${pages.nodeTotal}`
    : "none";
  $("#nodes tbody").replaceChildren(
    ...nodes.map((n) =>
      el(
        "tr",
        { "data-node": n.node_id, onclick: rowOpens(nodeHash(n.node_id)) },
        el("td", { class: "id" }, n.node_id),
        el("td", { "data-field": "status" }, status(n.status)),
        el("td", {}, status(n.health ?? "-")),
        el("td", { "data-field": "slots" }, `${n.running_tasks}/${n.max_concurrent_tasks}`),
        el("td", {}, `${Math.round(n.cpu_usage)}%`),
        el("td", {}, `${Math.round(n.memory_usage)}%`),
        el("td", { class: "wrap" }, shortList(n.available_skills)),
        el(
          "td",
          {},
          shortList(
            Object.entries(n.labels).map(([k, v]) => `${k}=${v}`),
            3,
          ) || "-",
        ),
        el("td", {}, status(n.circuit_breaker?.state ?? "closed")),
        el("td", {}, ago(n.last_heartbeat)),
        el("td", {}, drainButton(n)),
      ),
    ),
  );
}

export async function refreshTasks() {
  const q = new URLSearchParams({ limit: String(TASKS_PAGE) });
  const s = $("#task-status").value;
  const skill = $("#task-skill").value.trim();
  if (s) q.set("status", s);
  if (skill) q.set("skill", skill);
  const cursor = pages.taskCursors[pages.taskPage];
  if (cursor) q.set("cursor", cursor);
  const page = await getJson(`/api/v1/tasks?${q}`);
  pages.taskNext = page.next_cursor;
  $("#tasks-next").disabled = !page.next_cursor;
  $("#tasks tbody").replaceChildren(
    ...page.tasks.map((t) =>
      el(
        "tr",
        { "data-task": t.task_id, onclick: rowOpens(taskHash(t.task_id)) },
        el("td", { class: "id" }, t.task_id),
        el("td", { "data-field": "status" }, status(t.status)),
        el("td", {}, t.task_type),
        el("td", {}, t.priority),
        el("td", { class: "id" }, t.assigned_node ?? "-"),
        el("td", {}, t.attempt),
        el("td", {}, ago(t.submitted_at)),
        el(
          "td",
          { class: "wrap" },
          t.status === "running" && t.progress
            ? `${Math.round(t.progress.percent)}% ${t.progress.message}`
            : (t.waiting_reason ?? (t.error ? `${t.error.code} ${t.error.message}` : "")),
        ),
      ),
    ),
  );
}

export function wireLists() {
  const firstNodes = () => {
    pages.nodeOffset = 0;
    return refreshNodes();
  };
  $("#node-status").addEventListener("change", firstNodes);
  $("#node-skill").addEventListener("change", firstNodes);
  $("#nodes-prev").addEventListener("click", () => {
    pages.nodeOffset = Math.max(0, pages.nodeOffset - NODES_PAGE);
    void refreshNodes();
  });
  $("#nodes-next").addEventListener("click", () => {
    if (pages.nodeOffset + NODES_PAGE < pages.nodeTotal) pages.nodeOffset += NODES_PAGE;
    void refreshNodes();
  });
  const firstTasks = () => {
    pages.taskCursors = [null];
    pages.taskPage = 0;
    return refreshTasks();
  };
  $("#task-status").addEventListener("change", firstTasks);
  $("#task-skill").addEventListener("change", firstTasks);
  $("#tasks-first").addEventListener("click", firstTasks);
  $("#tasks-next").addEventListener("click", () => {
    if (!pages.taskNext) return;
    pages.taskCursors[pages.taskPage + 1] = pages.taskNext;
    pages.taskPage += 1;
    void refreshTasks();
  });
}
