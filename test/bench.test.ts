import {
  apiScenario,
  failoverScenario,
  latencyScenario,
  memoryScenario,
  parseFlags,
  renderMarkdown,
  renderText,
  runScenario,
  type ScenarioResult,
  scaleScenario,
  silentLog,
  summarize,
  throughputScenario,
} from "@openclaw/bench";
import { describe, expect, it } from "vitest";

/**
 * Every bench scenario once, at a tiny size, against real processes (nats-server, redis-server,
 * our services, BullMQ workers), so `npm run bench` cannot rot. Only counts and the tables' shape
 * are checked, never timings: this machine's speed is not the test's business.
 */

function expectMeasured(result: ScenarioResult, metrics: string[]): void {
  for (const [id, runs] of Object.entries(result.results)) {
    expect(runs.errors, `${id} failed`).toEqual([]);
    expect(runs.measurements).toHaveLength(1);
    const m = runs.measurements[0] ?? {};
    for (const metric of metrics.filter((k) => k in m || id === "ours")) {
      expect(m[metric], `${id}.${metric}`).toBeGreaterThan(0);
      expect(Number.isFinite(m[metric]), `${id}.${metric} finite`).toBe(true);
    }
  }
}

function expectTable(result: ScenarioResult, labels: string[]): void {
  const table = summarize(result);
  expect(table.rows.map((r) => r.label)).toEqual(expect.arrayContaining(labels));
  for (const row of table.rows) {
    expect(row.ours, `${row.label}: ours`).toBeDefined();
    if (row.baselineLabel) expect(row.baseline, `${row.label}: baseline`).toBeDefined();
  }
  expect(table.errors).toEqual([]);
  const text = renderText(table);
  const md = renderMarkdown(table);
  for (const label of labels) {
    expect(text).toContain(label);
    expect(md).toContain(`| ${label} |`);
  }
}

describe("bench scenarios (tiny)", () => {
  it("throughput: every task completes on each side and the table has its rows", {
    timeout: 60_000,
  }, async () => {
    const tasks = 300;
    const result = await runScenario(throughputScenario({ tasks, chunk: 100, stallMs: 20_000 }), {
      runs: 1,
      log: silentLog,
      settleMs: 0,
    });
    expect(Object.keys(result.results)).toEqual(["ours", "bullmq", "jetstream"]);
    for (const runs of Object.values(result.results)) expect(runs.measurements[0]?.completed).toBe(tasks);
    expectMeasured(result, ["tasks_per_s", "submit_per_s", "seconds", "cpu_ms_per_task"]);
    expectTable(result, [
      "throughput vs BullMQ",
      "throughput vs raw JetStream",
      "CPU per task (every process)",
    ]);
  });

  it("latency: every submission is sampled on each side", { timeout: 60_000 }, async () => {
    const result = await runScenario(latencyScenario({ rate: 100, seconds: 1, stallMs: 20_000 }), {
      runs: 1,
      log: silentLog,
      settleMs: 0,
    });
    for (const runs of Object.values(result.results)) expect(runs.measurements[0]?.completed).toBe(100);
    expectMeasured(result, ["p50_ms", "p99_ms", "max_ms", "offered_per_s"]);
    const m = result.results.ours?.measurements[0] ?? {};
    expect(m.p50_ms).toBeLessThanOrEqual(m.p99_ms ?? 0);
    expect(m.p99_ms).toBeLessThanOrEqual(m.max_ms ?? 0);
    expectTable(result, ["p50", "p99", "max"]);
  });

  it("failover: a scheduler takeover, and every task fails over to the second worker and completes", {
    timeout: 90_000,
  }, async () => {
    const tasks = 20;
    // A 3 s heartbeat timeout instead of the product's 90 s, so the dead worker is noticed soon.
    const scenario = failoverScenario({
      tasks,
      taskMs: 10_000,
      steps: 10,
      env: { OPENCLAW_HEARTBEAT_TIMEOUT: "3s", OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "500ms" },
    });
    const result = await runScenario(scenario, { runs: 1, log: silentLog, settleMs: 0 });
    expect(Object.keys(result.results)).toEqual(["ours"]);
    const m = result.results.ours?.measurements[0] ?? {};
    expect(m.completed).toBe(tasks);
    expect(m.failed_over).toBe(tasks);
    expectMeasured(result, [
      "leader_s",
      "takeover_task_s",
      "failover_min_s",
      "failover_median_s",
      "failover_max_s",
    ]);
    expect(m.failover_min_s).toBeLessThanOrEqual(m.failover_median_s ?? 0);
    expect(m.failover_median_s).toBeLessThanOrEqual(m.failover_max_s ?? 0);
    expectTable(result, [
      "scheduler takeover: new leader",
      "scheduler takeover: task submitted at the kill done",
      "tasks failed over",
      "tasks completed",
      "failover median (kill → running elsewhere)",
    ]);
  });

  it("api: both endpoints answer under load while simulated nodes heartbeat", {
    timeout: 60_000,
  }, async () => {
    const result = await runScenario(apiScenario({ nodes: 50, seconds: 1, connections: 10 }), {
      runs: 1,
      log: silentLog,
      settleMs: 0,
    });
    const m = result.results.ours?.measurements[0] ?? {};
    expect(m.skill_nodes).toBeGreaterThan(0);
    expectMeasured(result, ["skill_rps", "skill_kb", "health_rps", "health_kb"]);
    // A latency can round to 0 ms (a cached answer on loopback): present and not negative.
    for (const k of ["skill_p50_ms", "skill_p99_ms", "health_p99_ms"])
      expect(m[k], k).toBeGreaterThanOrEqual(0);
    expectTable(result, [
      "GET /api/v1/nodes/skills/{skill}: requests/s",
      "GET /api/v1/nodes/skills/{skill}: p99",
      "GET /api/v1/cluster/health: requests/s",
      "GET /api/v1/cluster/health: p99",
    ]);
  });

  it("scale: simulated nodes stay online, tasks queue, placement is timed", {
    timeout: 60_000,
  }, async () => {
    const queued = 1000;
    const result = await runScenario(
      scaleScenario({ nodes: 50, seconds: 3, queued, decisions: 1000, stallMs: 20_000 }),
      { runs: 1, log: silentLog, settleMs: 0 },
    );
    const m = result.results.ours?.measurements[0] ?? {};
    // Counts only: 50 nodes heartbeating for 3 s, none of them late enough to be suspect.
    expect(m.nodes_offline).toBe(0);
    expect(m.nodes_not_online_at_end).toBe(0);
    expectMeasured(result, [
      "heartbeats_per_s",
      "registry_cpu_pct",
      "health_monitor_cpu_pct",
      "scheduler_rss_mb",
      "queue_s",
      "place_p99_us",
      "decision_p99_us",
    ]);
    expectTable(result, [
      "nodes ever marked offline",
      "CPU: registry",
      "CPU: health monitor",
      `scheduler RSS with ${queued.toLocaleString("en-US")} tasks queued`,
      "placement: place() p99",
    ]);
  });

  it("memory: every idle service has a resident size", { timeout: 60_000 }, async () => {
    const result = await runScenario(memoryScenario({ idleMs: 500 }), {
      runs: 1,
      log: silentLog,
      settleMs: 0,
    });
    expectMeasured(result, [
      "registry_mb",
      "health_monitor_mb",
      "scheduler_mb",
      "coordinator_mb",
      "worker_mb",
      "broker_mb",
    ]);
    expectTable(result, ["registry", "health-monitor", "scheduler", "coordinator", "worker (larger of 2)"]);
  });

  it("flags are checked, each error naming its flag", () => {
    const ok = parseFlags(["--scenarios", "latency,memory", "--runs", "2", "--no-write"]);
    expect(ok).toMatchObject({
      ok: true,
      flags: {
        scenarios: ["latency", "memory"],
        runs: 2,
        write: false,
        failoverTasks: 200,
        nodes: 1000,
        apiSeconds: 10,
        scaleSeconds: 60,
        queuedTasks: 100_000,
      },
    });
    const sized = parseFlags(["--failover-tasks", "20", "--nodes", "50", "--scale-seconds", "3"]);
    expect(sized).toMatchObject({ ok: true, flags: { failoverTasks: 20, nodes: 50, scaleSeconds: 3 } });
    const bad = parseFlags([
      ...["--scenarios", "latency,nope", "--runs", "0", "--seconds", "x"],
      ...["--nodes", "0", "--scale-seconds", "soon", "--failover-tasks", "1.5"],
    ]);
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    const errors = bad.errors.join("\n");
    expect(errors).toMatch(/--scenarios .*expected one of throughput, latency, failover, api, scale, memory/);
    expect(errors).toMatch(/--runs "0"/);
    expect(errors).toMatch(/--seconds "x"/);
    expect(errors).toMatch(/--nodes "0"/);
    expect(errors).toMatch(/--scale-seconds "soon"/);
    expect(errors).toMatch(/--failover-tasks "1.5"/);
  });
});
