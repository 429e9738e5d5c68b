// The counters in the header and the queue panel.
//
// Two sources count work on nodes, and they are shown side by side on purpose:
// - "slots in use" is what the nodes that take work (online or busy) reported in their last
//   heartbeat, capped at each one's capacity: the nodes table's "running / slots", summed.
// - "on nodes" is the tasks whose record says scheduled or running, from the task events as they
//   arrive, on any node. A node counts an attempt as soon as it starts it, before the task's record
//   says running (the worker reports a start after worker.started_report_delay, so a short task's
//   never does), so scheduled ones count here as well.
// They differ while a heartbeat is on its way (a few seconds) and for tasks on drained, failing
// or lost nodes, which have no slots that take work; the header's "?" says so.

import { getJson } from "./api.js";
import { $, el } from "./view.js";

const SLOTS_HELP =
  "Running attempts / capacity, as the nodes that take work (online or busy) reported in their last heartbeat; the nodes table's 'running / slots', summed";
const ON_NODES_HELP =
  "Tasks whose record says scheduled or running, from task events as they arrive, on any node (drained ones too)";

function counter(label, id, value, title) {
  return el("span", { title }, `${label} `, el("b", { id }, value));
}

export async function refreshSummary() {
  const [health, queue] = await Promise.all([
    getJson("/api/v1/cluster/health"),
    getJson("/api/v1/cluster/queue"),
  ]);
  const onNodes = queue.scheduled + queue.running;
  $("#summary").replaceChildren(
    el(
      "span",
      {},
      "nodes ",
      el("b", { id: "online-count" }, `${health.online_nodes}/${health.total_nodes}`),
      " online",
    ),
    counter("slots in use", "slots-count", `${health.used_capacity}/${health.total_capacity}`, SLOTS_HELP),
    counter("on nodes", "running-count", onNodes, ON_NODES_HELP),
    el(
      "span",
      { class: "muted", id: "running-split" },
      `(${queue.scheduled} scheduled, ${queue.running} running)`,
    ),
    counter("pending", "pending-count", queue.pending, "Tasks waiting for a node"),
  );
  const max = Math.max(1, ...queue.by_skill.map((s) => s.pending + s.scheduled + s.running));
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
    el("h2", { style: "margin-top:10px" }, "by skill ", el("span", { class: "muted" }, "pending / on nodes")),
    el(
      "div",
      { class: "bars" },
      ...queue.by_skill
        .slice(0, 10)
        .flatMap((s) => [
          el("span", {}, s.skill),
          el("div", { class: "bar", style: `width:${((s.pending + s.scheduled + s.running) / max) * 100}%` }),
          el("span", {}, `${s.pending} / ${s.scheduled + s.running}`),
        ]),
    ),
  );
}
