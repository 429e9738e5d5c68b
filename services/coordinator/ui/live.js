// The live feed (GET /api/v1/cluster/feed, in batches) and the charts (GET /api/v1/cluster/series).

import { getJson, readEvents } from "./api.js";
import { $, el, status, taskLink, time } from "./view.js";

const FEED_KEPT = 100;

/** Keeps the feed open: a dropped stream is opened again 2 s later. */
export function startFeed() {
  const list = $("#feed");
  const line = (e) => {
    const rest = `${e.skill ?? ""}${e.node_id ? ` @${e.node_id}` : ""}${e.percent !== null ? ` ${Math.round(e.percent)}%` : ""}`;
    // The whole line wraps in the panel; its title holds it as one line too.
    return el(
      "li",
      { "data-kind": e.kind, title: `${time(e.at)} ${e.kind} ${e.task_id} ${rest}` },
      `${time(e.at)} `,
      status(e.kind),
      " ",
      taskLink(e.task_id),
      ` ${rest}`,
    );
  };
  const run = () =>
    readEvents("/api/v1/cluster/feed", (batch) => {
      list.prepend(...batch.events.map(line).reverse());
      while (list.children.length > FEED_KEPT) list.lastElementChild.remove();
      $("#feed-state").textContent = batch.dropped ? `(${batch.dropped} more not shown)` : "";
    })
      .catch(() => undefined)
      .finally(() => setTimeout(run, 2000));
  void run();
}

/** A series' last value that is not null (latency steps without tasks are null). */
function latest(values) {
  for (let i = values.length - 1; i >= 0; i--)
    if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

const number = (v) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

/**
 * The legend shows the value under the cursor while hovering, and each series' latest value the
 * rest of the time (uPlot's own legend reads "--" until hovered).
 */
function legendValue(unit) {
  return (u, v, sidx, idx) => {
    const value = idx === null || idx === undefined ? latest(u.data[sidx]) : v;
    return value === null || value === undefined ? "none yet" : `${number(value)}${unit}`;
  };
}

function timeValue(u, v, _sidx, idx) {
  if (idx === null || idx === undefined) {
    const last = latest(u.data[0]);
    return last === null ? "no data yet" : `latest (${new Date(last * 1000).toLocaleTimeString()})`;
  }
  return new Date(v * 1000).toLocaleTimeString();
}

const charts = {};

function chart(id, unit, series) {
  const target = $(id);
  const opts = {
    width: Math.max(300, target.clientWidth),
    height: 160,
    series: [{ label: "time", value: timeValue }, ...series.map((s) => ({ ...s, value: legendValue(unit) }))],
    axes: [
      { stroke: "#7d8794", grid: { stroke: "#262c35" } },
      { stroke: "#7d8794", grid: { stroke: "#262c35" } },
    ],
    legend: { show: true },
  };
  return new uPlot(opts, [[], ...series.map(() => [])], target);
}

export async function refreshSeries() {
  const { step_seconds: step, points } = await getJson("/api/v1/cluster/series");
  if (typeof uPlot === "undefined") return;
  charts.throughput ??= chart("#chart-throughput", "/s", [
    { label: "completed", stroke: "#5fbf77" },
    { label: "failed", stroke: "#e06c6c" },
    { label: "submitted", stroke: "#6aa7ff" },
  ]);
  charts.latency ??= chart("#chart-latency", " ms", [
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
