// The dashboard: plain ES modules over the coordinator's HTTP API. Every list is fetched a page at
// a time (1,000 nodes and 100,000 tasks never come down whole); live task events come from
// GET /api/v1/cluster/feed in batches. An API key, when the API needs one, is kept in this browser.

const $ = (selector) => document.querySelector(selector);
const REFRESH_MS = 2000;
const SERIES_MS = 5000;
const FEED_KEPT = 100;
const NODES_PAGE = 50;
const TASKS_PAGE = 25;

const state = {
  key: localStorage.getItem("openclaw.apiKey") ?? "",
  nodeOffset: 0,
  nodeTotal: 0,
  taskCursors: [null],
  taskPage: 0,
  taskNext: null,
  detail: null,
};

// ---- talking to the API ----

function headers(extra = {}) {
  return state.key ? { ...extra, authorization: `Bearer ${state.key}` } : extra;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message ?? "";
  box.hidden = !message;
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers) });
  if (res.status === 401 || res.status === 403) {
    $("#key-form").hidden = false;
    const body = await res.json().catch(() => ({}));
    throw new Error(body.message ?? `${res.status}`);
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.message ?? `${res.status} ${res.statusText}`);
  }
  return res;
}
const getJson = async (path) => (await api(path)).json();
const post = (path, body) =>
  api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });

/** Reads a server-sent event stream with fetch (EventSource cannot send an API key). */
async function readEvents(path, onData, signal) {
  const res = await api(path, { headers: { accept: "text/event-stream" }, signal });
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) onData(JSON.parse(data));
    }
  }
}

// ---- small view helpers ----

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat())
    node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}
const status = (s) => el("span", { class: `s-${s}` }, s ?? "-");
function ago(iso) {
  if (!iso) return "-";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "-");
const shortList = (items, max = 4) =>
  items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} +${items.length - max}`;

// ---- summary and queue ----

async function refreshSummary() {
  const [health, queue] = await Promise.all([
    getJson("/api/v1/cluster/health"),
    getJson("/api/v1/cluster/queue"),
  ]);
  $("#summary").replaceChildren(
    el(
      "span",
      {},
      "nodes ",
      el("b", { id: "online-count" }, `${health.online_nodes}/${health.total_nodes}`),
      " online",
    ),
    el("span", {}, "capacity ", el("b", {}, `${health.used_capacity}/${health.total_capacity}`)),
    el("span", {}, "pending ", el("b", { id: "pending-count" }, queue.pending)),
    el("span", {}, "running ", el("b", {}, queue.running)),
  );
  const max = Math.max(1, ...queue.by_skill.map((s) => s.pending + s.running));
  $("#queue").replaceChildren(
    el(
      "div",
      { class: "bars" },
      ...Object.entries(queue.pending_by_priority).flatMap(([p, n]) => [
        el("span", {}, p),
        el("div", { class: "bar", style: `width:${Math.min(100, (n / Math.max(1, queue.pending)) * 100)}%` }),
        el("span", { "data-priority": p }, n),
      ]),
    ),
    el("h2", { style: "margin-top:10px" }, "by skill ", el("span", { class: "muted" }, "pending / running")),
    el(
      "div",
      { class: "bars" },
      ...queue.by_skill
        .slice(0, 10)
        .flatMap((s) => [
          el("span", {}, s.skill),
          el("div", { class: "bar", style: `width:${((s.pending + s.running) / max) * 100}%` }),
          el("span", {}, `${s.pending} / ${s.running}`),
        ]),
    ),
  );
}

// ---- nodes ----

async function refreshNodes() {
  const statusFilter = $("#node-status").value;
  const skill = $("#node-skill").value.trim();
  const q = new URLSearchParams({ limit: String(NODES_PAGE), offset: String(state.nodeOffset) });
  if (statusFilter) q.set("status", statusFilter);
  else if (skill) q.set("status", "any");
  const path = skill ? `/api/v1/nodes/skills/${encodeURIComponent(skill)}?${q}` : `/api/v1/nodes?${q}`;
  const res = await api(path);
  const nodes = await res.json();
  state.nodeTotal = Number(res.headers.get("x-total-count") ?? nodes.length);
  $("#nodes-range").textContent = state.nodeTotal
    ? `${state.nodeOffset + 1}-${state.nodeOffset + nodes.length} of ${state.nodeTotal}`
    : "none";
  $("#nodes tbody").replaceChildren(
    ...nodes.map((n) => {
      const breaker = n.circuit_breaker?.state ?? "closed";
      return el(
        "tr",
        { "data-node": n.node_id },
        el("td", {}, n.node_id),
        el("td", { "data-field": "status" }, status(n.status)),
        el("td", {}, status(n.health ?? "-")),
        el("td", {}, `${n.running_tasks}/${n.max_concurrent_tasks}`),
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
        el("td", {}, status(breaker)),
        el("td", {}, ago(n.last_heartbeat)),
        el(
          "td",
          {},
          n.status === "offline"
            ? ""
            : el(
                "button",
                {
                  type: "button",
                  "data-action": n.draining ? "undrain" : "drain",
                  onclick: () =>
                    act(() =>
                      post(
                        `/api/v1/nodes/${encodeURIComponent(n.node_id)}/${n.draining ? "undrain" : "drain"}`,
                        { reason: "from the dashboard" },
                      ),
                    ),
                },
                n.draining ? "Undrain" : "Drain",
              ),
        ),
      );
    }),
  );
}

// ---- tasks ----

async function refreshTasks() {
  const q = new URLSearchParams({ limit: String(TASKS_PAGE) });
  const s = $("#task-status").value;
  const skill = $("#task-skill").value.trim();
  if (s) q.set("status", s);
  if (skill) q.set("skill", skill);
  const cursor = state.taskCursors[state.taskPage];
  if (cursor) q.set("cursor", cursor);
  const page = await getJson(`/api/v1/tasks?${q}`);
  state.taskNext = page.next_cursor;
  $("#tasks-next").disabled = !page.next_cursor;
  $("#tasks tbody").replaceChildren(
    ...page.tasks.map((t) =>
      el(
        "tr",
        { "data-task": t.task_id, onclick: () => openTask(t.task_id) },
        el("td", {}, t.task_id),
        el("td", { "data-field": "status" }, status(t.status)),
        el("td", {}, t.task_type),
        el("td", {}, t.priority),
        el("td", {}, t.assigned_node ?? "-"),
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

// ---- one task ----

let follow;

async function renderTask(id) {
  const t = await getJson(`/api/v1/tasks/${encodeURIComponent(id)}`);
  if (state.detail !== id) return;
  const fields = [
    ["status", status(t.status)],
    ["skills", t.required_skills.join(", ")],
    ["priority", t.priority],
    ["node", t.assigned_node ?? "-"],
    ["submitted", `${time(t.submitted_at)} (${ago(t.submitted_at)})`],
    ["retries", `${t.retry_count} of ${t.max_retries}`],
    ...(t.waiting_reason ? [["waiting", t.waiting_reason]] : []),
    ...(t.error ? [["error", `${t.error.code} ${t.error.message}`]] : []),
    ...(t.result !== null && t.result !== undefined ? [["result", JSON.stringify(t.result)]] : []),
  ];
  $("#task-fields").replaceChildren(
    ...fields.flatMap(([k, v]) => [el("div", {}, k), el("div", { "data-field": k }, v)]),
  );
  const percent = t.status === "completed" ? 100 : (t.progress?.percent ?? 0);
  $("#task-progress").style.width = `${percent}%`;
  $("#task-progress-text").textContent = t.progress
    ? `${Math.round(t.progress.percent)}% ${t.progress.message}`
    : "";
  const live = ["pending", "scheduled", "running"].includes(t.status);
  $("#task-cancel").disabled = !live;
  $("#task-retry").disabled = !["failed", "timeout", "cancelled"].includes(t.status);
  $("#task-attempts tbody").replaceChildren(
    ...t.attempts.map((a) =>
      el(
        "tr",
        {},
        el("td", {}, a.attempt),
        el("td", {}, a.node_id),
        el("td", {}, status(a.status)),
        el("td", {}, time(a.started_at)),
        el("td", {}, time(a.ended_at)),
        el("td", {}, a.error ? `${a.error.code} ${a.error.message}` : ""),
      ),
    ),
  );
}

async function openTask(id) {
  follow?.abort();
  state.detail = id;
  $("#task-detail").hidden = false;
  $("#task-id").textContent = id;
  await renderTask(id);
  $("#task-detail").scrollIntoView({ behavior: "smooth", block: "nearest" });
  // Its events until it ends: each one redraws it (a progress event moves the bar at once).
  follow = new AbortController();
  readEvents(
    `/api/v1/tasks/${encodeURIComponent(id)}/events`,
    (e) => {
      if (state.detail !== id) return;
      if (e.kind === "progress") {
        $("#task-progress").style.width = `${e.percent}%`;
        $("#task-progress-text").textContent = `${Math.round(e.percent)}% ${e.message ?? ""}`;
      } else void renderTask(id).catch((err) => showError(err.message));
    },
    follow.signal,
  )
    .then(() => state.detail === id && renderTask(id))
    .catch(() => undefined);
}

// ---- live feed ----

function startFeed() {
  const list = $("#feed");
  const run = () =>
    readEvents("/api/v1/cluster/feed", (batch) => {
      const items = batch.events.map((e) =>
        el(
          "li",
          { "data-kind": e.kind },
          `${time(e.at)} `,
          status(e.kind),
          ` ${e.task_id} ${e.skill ?? ""}${e.node_id ? ` @${e.node_id}` : ""}${e.percent !== null ? ` ${Math.round(e.percent)}%` : ""}`,
        ),
      );
      list.prepend(...items.reverse());
      while (list.children.length > FEED_KEPT) list.lastElementChild.remove();
      $("#feed-state").textContent = batch.dropped ? `(${batch.dropped} more not shown)` : "";
    })
      .catch(() => undefined)
      .finally(() => setTimeout(run, 2000));
  void run();
}

// ---- charts ----

const charts = {};
function chart(id, series) {
  const target = $(id);
  const opts = {
    width: Math.max(300, target.clientWidth),
    height: 160,
    series: [{}, ...series],
    axes: [
      { stroke: "#7d8794", grid: { stroke: "#262c35" } },
      { stroke: "#7d8794", grid: { stroke: "#262c35" } },
    ],
    legend: { show: true },
  };
  return new uPlot(opts, [[], ...series.map(() => [])], target);
}

async function refreshSeries() {
  const { step_seconds: step, points } = await getJson("/api/v1/cluster/series");
  if (typeof uPlot === "undefined") return;
  charts.throughput ??= chart("#chart-throughput", [
    { label: "completed/s", stroke: "#5fbf77" },
    { label: "failed/s", stroke: "#e06c6c" },
    { label: "submitted/s", stroke: "#6aa7ff" },
  ]);
  charts.latency ??= chart("#chart-latency", [
    { label: "scheduling p50", stroke: "#6aa7ff" },
    { label: "scheduling p95", stroke: "#e0b34c" },
    { label: "run p50", stroke: "#5fbf77" },
  ]);
  const xs = points.map((p) => Date.parse(p.at) / 1000);
  charts.throughput.setData([
    xs,
    points.map((p) => p.completed / step),
    points.map((p) => p.failed / step),
    points.map((p) => p.submitted / step),
  ]);
  charts.latency.setData([
    xs,
    points.map((p) => p.scheduling_p50_ms),
    points.map((p) => p.scheduling_p95_ms),
    points.map((p) => p.duration_p50_ms),
  ]);
}

// ---- wiring ----

async function act(work) {
  try {
    await work();
    showError("");
    await refresh();
  } catch (err) {
    showError(err.message);
  }
}

async function refresh() {
  try {
    await Promise.all([refreshSummary(), refreshNodes(), refreshTasks()]);
    if (state.detail) await renderTask(state.detail);
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.key = $("#api-key").value.trim();
  localStorage.setItem("openclaw.apiKey", state.key);
  $("#key-form").hidden = true;
  void refresh();
});
const firstNodes = () => {
  state.nodeOffset = 0;
  return refreshNodes();
};
$("#node-status").addEventListener("change", firstNodes);
$("#node-skill").addEventListener("change", firstNodes);
$("#nodes-prev").addEventListener("click", () => {
  state.nodeOffset = Math.max(0, state.nodeOffset - NODES_PAGE);
  void refreshNodes();
});
$("#nodes-next").addEventListener("click", () => {
  if (state.nodeOffset + NODES_PAGE < state.nodeTotal) state.nodeOffset += NODES_PAGE;
  void refreshNodes();
});
const firstTasks = () => {
  state.taskCursors = [null];
  state.taskPage = 0;
  return refreshTasks();
};
$("#task-status").addEventListener("change", firstTasks);
$("#task-skill").addEventListener("change", firstTasks);
$("#tasks-first").addEventListener("click", firstTasks);
$("#tasks-next").addEventListener("click", () => {
  if (!state.taskNext) return;
  state.taskCursors[state.taskPage + 1] = state.taskNext;
  state.taskPage += 1;
  void refreshTasks();
});
$("#task-close").addEventListener("click", () => {
  follow?.abort();
  state.detail = null;
  $("#task-detail").hidden = true;
});
$("#task-cancel").addEventListener("click", () =>
  act(() =>
    post(`/api/v1/tasks/${encodeURIComponent(state.detail)}/cancel`, {
      reason: "cancelled from the dashboard",
    }),
  ),
);
$("#task-retry").addEventListener("click", () =>
  act(() => post(`/api/v1/tasks/${encodeURIComponent(state.detail)}/retry`)),
);

void refresh();
void refreshSeries().catch(() => undefined);
startFeed();
setInterval(() => void refresh(), REFRESH_MS);
setInterval(() => void refreshSeries().catch(() => undefined), SERIES_MS);
