import { freePort, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/** Prometheus metrics: the coordinator's on its API, every other service's on its metrics port. */
let c: TestCluster;
let api: string;
let schedulerPort: number;
let workerPort: number;

/** One sample's value from a Prometheus text answer, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

const scrape = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
};

beforeAll(async () => {
  c = await startTestCluster();
  [schedulerPort, workerPort] = [await freePort(), await freePort()];
  c.spawn("registry");
  c.spawn("health-monitor");
  c.spawn("scheduler", [], {
    OPENCLAW_SCHEDULER_INTERVAL: "200ms",
    OPENCLAW_METRICS_PORT: String(schedulerPort),
  });
  api = (await c.coordinator()).url;
  c.spawn("worker", [
    "--node-id",
    "m-w1",
    "--skills-dir",
    EXAMPLE_SKILLS,
    "--metrics-port",
    String(workerPort),
  ]);
  await waitForNodes(api, (n) => n.some((x) => x.node_id === "m-w1" && x.status === "online"));
}, 60_000);

afterAll(async () => {
  await c?.stop();
});

async function run(body: unknown, wait = true): Promise<string> {
  const res = await fetch(`${api}/api/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const { task_id } = (await res.json()) as { task_id: string };
  if (wait) await fetch(`${api}/api/v1/tasks/${task_id}/result?wait=30s`);
  return task_id;
}

describe("metrics", () => {
  it("the coordinator's move after tasks run: tasks by status and skill, placements, latency, retries, dead letters", async () => {
    const before = await scrape(`${api}/api/v1/metrics`);
    await run({ type: "echo", payload: { n: 1 } });
    await run({ type: "echo", payload: { n: 2 } });
    await run({ type: "word-count", payload: { document: 42 } }); // a bad input: failed at once
    // Timed out twice: retried once, then a dead letter.
    await run({
      type: "sleep",
      payload: { ms: 5000 },
      timeout: "300ms",
      retry: { max_attempts: 2, initial_backoff: "10ms" },
    });
    await run({ type: "translate", payload: {} }, false); // no node has it: it waits

    const after = await waitFor(
      async () => {
        const text = await scrape(`${api}/metrics`);
        const done =
          sample(text, "openclaw_tasks_finished_total", { status: "completed", skill: "echo" }) ?? 0;
        const dead = sample(text, "openclaw_dead_letters_total", { skill: "sleep" }) ?? 0;
        const waiting = sample(text, "openclaw_tasks_live", { status: "pending", skill: "translate" }) ?? 0;
        const failures =
          sample(text, "openclaw_placement_failures_total", { reason: "no_node_with_skill" }) ?? 0;
        return done >= 2 && dead >= 1 && waiting === 1 && failures >= 1 ? text : undefined;
      },
      { timeout: 20_000, message: "finished tasks never showed in the metrics" },
    );
    const moved = (name: string, labels: Record<string, string> = {}) =>
      (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(moved("openclaw_tasks_submitted_total", { skill: "echo" })).toBeGreaterThanOrEqual(2);
    expect(moved("openclaw_placements_total")).toBeGreaterThanOrEqual(5);
    expect(moved("openclaw_task_retries_total", { skill: "sleep" })).toBe(1);
    expect(moved("openclaw_dead_letters_total", { skill: "word-count" })).toBe(1);
    expect(moved("openclaw_tasks_finished_total", { status: "timeout", skill: "sleep" })).toBe(1);
    expect(moved("openclaw_scheduling_latency_seconds_count")).toBeGreaterThanOrEqual(3);
    expect(
      moved("openclaw_task_duration_seconds_count", { skill: "echo", status: "completed" }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sample(after, "openclaw_placement_failures_total", { reason: "no_node_with_skill" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(after, "openclaw_tasks_live", { status: "pending", skill: "translate" })).toBe(1);
    expect(sample(after, "openclaw_queue_depth", { priority: "normal" })).toBeGreaterThanOrEqual(1);
    expect(sample(after, "openclaw_tasks", { status: "completed" })).toBeGreaterThanOrEqual(2);
    // Nodes, their heartbeats and resources; the API's own latency; the process and its NATS link.
    expect(sample(after, "openclaw_nodes", { status: "online" })).toBe(1);
    expect(sample(after, "openclaw_node_heartbeat_age_seconds", { node: "m-w1" })).toBeLessThan(5);
    expect(
      sample(after, "openclaw_node_resource_usage_percent", { node: "m-w1", resource: "cpu" }),
    ).toBeGreaterThanOrEqual(0);
    expect(sample(after, "openclaw_capacity_slots", { state: "total" })).toBeGreaterThan(0);
    expect(
      sample(after, "openclaw_http_request_duration_seconds_count", {
        method: "POST",
        route: "/api/v1/tasks",
      }),
    ).toBeGreaterThanOrEqual(4);
    expect(sample(after, "openclaw_nats_connected", { service: "coordinator" })).toBe(1);
    expect(sample(after, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
  }, 60_000);

  it("other services serve theirs on their metrics port: the scheduler's queue and placements, the worker's attempts", async () => {
    // The leader publishes its queue figures every tick.
    const sched = await waitFor(async () => {
      const text = await scrape(`http://127.0.0.1:${schedulerPort}/metrics`);
      return (sample(text, "openclaw_scheduler_queue_depth", { priority: "normal" }) ?? 0) >= 1
        ? text
        : undefined;
    });
    expect(sample(sched, "openclaw_scheduler_leader", { service: "scheduler" })).toBe(1);
    expect(sample(sched, "openclaw_scheduler_placements_total")).toBeGreaterThanOrEqual(5);
    expect(sample(sched, "openclaw_scheduler_queue_depth", { priority: "normal" })).toBeGreaterThanOrEqual(1);
    expect(sample(sched, "openclaw_scheduler_round_seconds_count")).toBeGreaterThan(0);
    expect(sample(sched, "openclaw_nats_connected")).toBe(1);

    const worker = await scrape(`http://127.0.0.1:${workerPort}/metrics`);
    expect(
      sample(worker, "openclaw_worker_attempts_total", { skill: "echo", outcome: "succeeded" }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sample(worker, "openclaw_worker_attempts_total", { skill: "word-count", outcome: "OC-6001" }),
    ).toBe(1);
    expect(sample(worker, "openclaw_worker_attempts_total", { skill: "sleep", outcome: "OC-6004" })).toBe(2);
    expect(sample(worker, "openclaw_worker_slots", { service_instance: "m-w1" })).toBeGreaterThan(0);
    const notFound = await fetch(`http://127.0.0.1:${workerPort}/other`);
    expect(notFound.status).toBe(404);
  });
});
