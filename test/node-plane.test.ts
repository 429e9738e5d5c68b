import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ApiNode,
  type ClusterHealth,
  EXAMPLE_SKILLS,
  getJson,
  startTestCluster,
  type TestCluster,
  waitForNodes,
} from "./cluster.js";

let c: TestCluster;
let api: string;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
  api = (await c.coordinator()).url;
});

afterAll(async () => {
  await c?.stop();
});

describe("the node plane, as separate processes", () => {
  it("a worker registers and shows up with its skills, under its skill but not another", async () => {
    await c.worker("worker-a", EXAMPLE_SKILLS, [
      "--labels",
      "gpu=true,tier=fast",
      "--zone",
      "eu-1",
      "--max-concurrent-tasks",
      "3",
    ]);
    const nodes = await waitForNodes(api, (n) =>
      n.some((x) => x.node_id === "worker-a" && x.status === "online"),
    );
    const node = nodes.find((n) => n.node_id === "worker-a") as ApiNode;
    expect(node.available_skills).toEqual(
      expect.arrayContaining(["echo", "sleep", "word-count", "merge-counts", "http-check"]),
    );
    expect(node).toMatchObject({
      max_concurrent_tasks: 3,
      zone: "eu-1",
      labels: { gpu: "true", tier: "fast" },
      port: 18789,
    });
    expect(node.tags).toEqual(expect.arrayContaining(["gpu=true", "tier=fast"]));
    for (const field of [
      "hostname",
      "platform",
      "arch",
      "ip_address",
      "registered_at",
      "last_heartbeat",
      "cpu_usage",
    ]) {
      expect(node).toHaveProperty(field);
    }

    const withEcho = await getJson<ApiNode[]>(`${api}/api/v1/nodes/skills/echo`);
    expect(withEcho.body.map((n) => n.node_id)).toContain("worker-a");
    const withOther = await getJson<ApiNode[]>(`${api}/api/v1/nodes/skills/gpu-render`);
    expect(withOther.status).toBe(200);
    expect(withOther.body.map((n) => n.node_id)).not.toContain("worker-a");
    const online = await getJson<ApiNode[]>(`${api}/api/v1/nodes/online`);
    expect(online.body.map((n) => n.node_id)).toContain("worker-a");
  });

  it("heartbeats carry load: last_heartbeat moves and the node's health is healthy", async () => {
    const first = await getJson<ApiNode>(`${api}/api/v1/nodes/worker-a`);
    await waitForNodes(api, (n) =>
      n.some((x) => x.node_id === "worker-a" && x.last_heartbeat !== first.body.last_heartbeat),
    );
    const health = await getJson<Record<string, unknown>>(`${api}/api/v1/nodes/worker-a/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ node_id: "worker-a", healthy: true, health: "online" });
    expect(Number(health.body.memory_usage)).toBeGreaterThan(0);
  });

  it("a SIGKILLed worker turns offline after the heartbeat timeout and the cluster counts change", async () => {
    const victim = await c.worker("worker-k", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"]);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-k" && x.status === "online"));
    const before = (await getJson<ClusterHealth>(`${api}/api/v1/cluster/health`)).body;

    await victim.signal("SIGKILL");
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-k" && x.health === "suspect"), 10_000);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-k" && x.status === "offline"), 10_000);

    const after = (await getJson<ClusterHealth>(`${api}/api/v1/cluster/health`)).body;
    expect(after.online_nodes).toBe(before.online_nodes - 1);
    expect(after.offline_nodes).toBe(before.offline_nodes + 1);
    expect(after.timeout_nodes_count).toBe(before.timeout_nodes_count + 1);
    expect(after.total_capacity).toBe(before.total_capacity - 4);

    const events = await getJson<{ kind: string; at: string; last_seen: string }[]>(
      `${api}/api/v1/nodes/worker-k/events`,
    );
    expect(events.body.map((e) => e.kind)).toEqual(["offline", "suspect", "joined"]);
    // Never declared dead early: at least the 1.5 s timeout after the last heartbeat arrived.
    const offline = events.body[0] as { at: string; last_seen: string };
    expect(Date.parse(offline.at) - Date.parse(offline.last_seen)).toBeGreaterThanOrEqual(1500);
  });

  it("a frozen worker (SIGSTOP) goes offline, and is online again after healthy_threshold heartbeats (SIGCONT)", async () => {
    const w = await c.worker("worker-f", EXAMPLE_SKILLS);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-f" && x.status === "online"));
    w.child.kill("SIGSTOP");
    try {
      await waitForNodes(
        api,
        (n) => n.some((x) => x.node_id === "worker-f" && x.status === "offline"),
        10_000,
      );
    } finally {
      w.child.kill("SIGCONT");
    }
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-f" && x.status === "online"), 10_000);
    const events = await getJson<{ kind: string; previous?: string }[]>(
      `${api}/api/v1/nodes/worker-f/events`,
    );
    expect(events.body.map((e) => e.kind)).toEqual(["online", "offline", "suspect", "joined"]);
    expect(events.body[0]?.previous).toBe("offline");
    await w.stop();
  });

  it("a restarted worker with the same id comes back online", async () => {
    await c.worker("worker-k", EXAMPLE_SKILLS);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-k" && x.status === "online"), 10_000);
  });

  it("a gracefully stopped worker is offline at once, not after the timeout", async () => {
    const w = await c.worker("worker-g", EXAMPLE_SKILLS);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-g" && x.status === "online"));
    expect(await w.signal("SIGTERM")).toBe(0);
    const stoppedAt = Date.now();
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-g" && x.status === "offline"), 10_000);
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
    const events = await getJson<{ kind: string; reason?: string }[]>(`${api}/api/v1/nodes/worker-g/events`);
    expect(events.body[0]).toMatchObject({ kind: "left" });
    expect(w.logs.some((l) => l.message === "left the cluster")).toBe(true);
  });

  it("re-registers when a skill folder appears, and skips a malformed one with a warning", async () => {
    const { cpSync, mkdirSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const dir = join(c.dir, "skills-live");
    cpSync(join(EXAMPLE_SKILLS, "echo"), join(dir, "echo"), { recursive: true });
    const w = await c.worker("worker-live", dir);
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "worker-live"));

    mkdirSync(join(dir, "translate"));
    writeFileSync(
      join(dir, "translate", "SKILL.md"),
      "---\nname: translate\ndescription: Translates text\n---\n",
    );
    mkdirSync(join(dir, "broken"));
    writeFileSync(join(dir, "broken", "SKILL.md"), "---\nname: [oops\n---\n");
    await waitForNodes(api, (n) =>
      n.some((x) => x.node_id === "worker-live" && x.available_skills.includes("translate")),
    );
    const warning = await w.waitForLog(
      (l) => l.error_code === "OC-3001" && String(l.file).endsWith("broken/SKILL.md"),
    );
    expect(String(warning.message)).toContain("not valid YAML");
    expect(w.child.exitCode).toBeNull();
    const live = await getJson<ApiNode>(`${api}/api/v1/nodes/worker-live`);
    expect(live.body.available_skills.sort()).toEqual(["echo", "translate"]);
  });

  it("answers 404 for an unknown node and 400 for malformed ids and filters", async () => {
    const missing = await getJson<{ code: string; message: string }>(`${api}/api/v1/nodes/no-such-node`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("OC-4004");
    expect(missing.body.message).toContain("no-such-node");
    for (const bad of ["a.b", "*", ">", "has%20space"]) {
      const res = await getJson<{ code: string }>(`${api}/api/v1/nodes/${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.code).toBe("OC-4001");
    }
    const filter = await getJson<{ code: string; field: string }>(`${api}/api/v1/nodes?status=sleeping`);
    expect(filter.status).toBe(400);
    expect(filter.body.field).toBe("status");
  });
});
