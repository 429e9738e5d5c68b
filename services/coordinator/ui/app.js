// The dashboard: plain ES modules over the coordinator's HTTP API, redrawn every 2 s. Details of
// a task or a node open in a side panel at `#/tasks/<id>` and `#/nodes/<id>` (router.js).

import { ApiError, getJson, onActed, setKey, showError } from "./api.js";
import { refreshNodes, refreshTasks, wireLists } from "./lists.js";
import { refreshSeries, startFeed } from "./live.js";
import { closeNode, openNode, renderNode, wireNodeActions } from "./node-detail.js";
import { defineView, go, startRouter } from "./router.js";
import { refreshSummary } from "./summary.js";
import { closeTask, openTask, renderTask, wireTaskActions } from "./task-detail.js";
import { $, taskHash } from "./view.js";

const REFRESH_MS = 2000;
const SERIES_MS = 5000;

async function refresh() {
  try {
    await Promise.all([refreshSummary(), refreshNodes(), refreshTasks(), renderTask(), renderNode()]);
    showError("");
  } catch (err) {
    showError(err.message);
  }
}

/** The search box: an exact task id opens that task; an unknown one says so. */
async function search(e) {
  e.preventDefault();
  const msg = $("#search-msg");
  const id = $("#search-id").value.trim();
  msg.hidden = true;
  if (!id) return;
  try {
    await getJson(`/api/v1/tasks/${encodeURIComponent(id)}`);
  } catch (err) {
    msg.textContent = err instanceof ApiError && err.status === 404 ? `no task ${id}` : err.message;
    msg.hidden = false;
    return;
  }
  go(taskHash(id));
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setKey($("#api-key").value.trim());
  $("#key-form").hidden = true;
  void refresh();
});
$("#search").addEventListener("submit", (e) => void search(e));
$("#search-id").addEventListener("input", () => {
  $("#search-msg").hidden = true;
});

onActed(refresh);
wireLists();
wireTaskActions();
wireNodeActions();
defineView("tasks", { open: openTask, close: closeTask });
defineView("nodes", {
  open: (id) => void openNode(id).catch((err) => showError(err.message)),
  close: closeNode,
});
startRouter();

void refresh();
void refreshSeries().catch(() => undefined);
startFeed();
setInterval(() => void refresh(), REFRESH_MS);
setInterval(() => void refreshSeries().catch(() => undefined), SERIES_MS);
