import { silentLogger } from "@openclaw/log";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi, type NatsState } from "../src/http/api.js";
import { healthRecord, leftEvent, nodeRecord, offlineEvent, T0, tempDir } from "./fixtures.js";
import { captureLogger } from "./harness.js";

const NODE_FIELDS = [
  "node_id",
  "hostname",
  "platform",
  "arch",
  "status",
  "health",
  "available_skills",
  "skills",
  "max_concurrent_tasks",
  "running_tasks",
  "ip_address",
  "tailscale_ip",
  "port",
  "cpu_usage",
  "memory_usage",
  "disk_usage",
  "total_tasks_processed",
  "successful_tasks",
  "failed_tasks",
  "average_execution_time",
  "registered_at",
  "last_heartbeat",
  "tags",
  "labels",
  "zone",
  "agent_version",
  "left_at",
  "draining",
  "drain",
  "circuit_breaker",
];

const NOW = new Date(Date.parse(T0) + 12_000);

describe("coordinator HTTP API", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  let nats: NatsState;

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    nats = "connected";
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      version: "9.9.9",
      nats: () => nats,
      now: () => NOW,
    });
    store.applyBatch(
      [
        nodeRecord("w1", {
          skills: ["python", "shell"],
          max: 4,
          running: 1,
          labels: { gpu: "true", zone: "eu" },
        }),
        nodeRecord("w2", { skills: ["python"], max: 2, running: 2 }),
        nodeRecord("w3", { skills: ["python"], state: "left" }),
        nodeRecord("w4", { skills: ["shell"], max: 3 }),
      ],
      [healthRecord("w4", "offline", "no heartbeat for 90s")],
    );
  });
  afterEach(async () => {
    await api.close();
    store.close();
    tmp.cleanup();
  });

  async function get(url: string) {
    const res = await api.inject({ method: "GET", url });
    return { status: res.statusCode, body: res.json() };
  }

  it("GET /health and /api/v1/health report the service, and 503 degraded while NATS is disconnected", async () => {
    const ok = await get("/health");
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      status: "ok",
      service: "coordinator",
      instance: "c1",
      version: "9.9.9",
      uptime_seconds: 0,
      nats: "connected",
      timestamp: NOW.toISOString(),
    });
    // Load balancers and rolling-update scripts poll /api/v1/health: it was a 404.
    expect(await get("/api/v1/health")).toEqual(ok);
    nats = "disconnected";
    const down = await get("/health");
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: "degraded", nats: "disconnected" });
    expect(await get("/api/v1/health")).toEqual(down);
  });

  it("GET /api/v1/nodes lists every node as a bare array with every field", async () => {
    const { status, body } = await get("/api/v1/nodes");
    expect(status).toBe(200);
    expect(body.map((n: { node_id: string }) => n.node_id)).toEqual(["w1", "w2", "w3", "w4"]);
    for (const node of body) expect(Object.keys(node).sort()).toEqual([...NODE_FIELDS].sort());
    expect(body[0]).toMatchObject({
      status: "online",
      available_skills: ["python", "shell"],
      skills: [
        { name: "python", version: "1.0.0", description: "python skill" },
        { name: "shell", version: "1.0.0", description: "shell skill" },
      ],
      tags: ["gpu=true", "zone=eu"],
      labels: { gpu: "true", zone: "eu" },
      tailscale_ip: null,
      left_at: null,
    });
    expect(body.map((n: { status: string }) => n.status)).toEqual(["online", "busy", "offline", "offline"]);
  });

  it("GET /api/v1/nodes?status= filters, and rejects an unknown status naming the field", async () => {
    expect(
      (await get("/api/v1/nodes?status=offline")).body.map((n: { node_id: string }) => n.node_id),
    ).toEqual(["w3", "w4"]);
    expect((await get("/api/v1/nodes?status=maintenance")).body).toEqual([]);
    const bad = await get("/api/v1/nodes?status=bogus");
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      statusCode: 400,
      error: "Bad Request",
      code: "OC-4000",
      field: "status",
      message: "status 'bogus' is not one of: online, offline, busy, maintenance, error",
    });
  });

  it("GET /api/v1/nodes/online lists online and busy nodes", async () => {
    const { body } = await get("/api/v1/nodes/online");
    expect(body.map((n: { node_id: string }) => n.node_id)).toEqual(["w1", "w2"]);
  });

  it("GET /api/v1/nodes/skills/:skill lists up nodes with the skill; ?status= overrides", async () => {
    const ids = (body: { node_id: string }[]) => body.map((n) => n.node_id);
    expect(ids((await get("/api/v1/nodes/skills/python")).body)).toEqual(["w1", "w2"]);
    expect(ids((await get("/api/v1/nodes/skills/python?status=any")).body)).toEqual(["w1", "w2", "w3"]);
    expect(ids((await get("/api/v1/nodes/skills/shell?status=offline")).body)).toEqual(["w4"]);
    expect((await get("/api/v1/nodes/skills/rust")).body).toEqual([]);
    const bad = await get(`/api/v1/nodes/skills/${encodeURIComponent("py.thon")}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: "OC-4001", field: "skill" });
    expect((await get("/api/v1/nodes/skills/python?status=nope")).body).toMatchObject({ field: "status" });
  });

  it("GET /api/v1/nodes/:id answers one node, 404 with a clear message for an unknown one", async () => {
    const one = await get("/api/v1/nodes/w2");
    expect(one.status).toBe(200);
    expect(Object.keys(one.body).sort()).toEqual([...NODE_FIELDS].sort());
    expect(one.body).toMatchObject({ node_id: "w2", status: "busy" });
    const missing = await get("/api/v1/nodes/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ statusCode: 404, error: "Not Found", code: "OC-4004" });
    expect(missing.body.message).toContain("node 'nope' is not known");
  });

  it.each(["a.b", "*", ">", "has space", "x".repeat(65)])(
    "rejects the malformed node id %j with 400",
    async (id) => {
      for (const suffix of ["", "/health", "/events"]) {
        const res = await get(`/api/v1/nodes/${encodeURIComponent(id)}${suffix}`);
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({
          statusCode: 400,
          error: "Bad Request",
          code: "OC-4001",
          field: "id",
        });
        expect(res.body.message).toMatch(/^node id '.*' (contains|is \d+ characters)/);
      }
    },
  );

  // Hardening item 11: a node could register as 'online' (or 'skills'), which the literal routes
  // /api/v1/nodes/online and /api/v1/nodes/skills/:skill shadow; such an id is refused everywhere.
  it("rejects the reserved node id 'online' with 400, saying it is reserved", async () => {
    for (const suffix of ["/health", "/events"]) {
      const res = await get(`/api/v1/nodes/online${suffix}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: "OC-4001", field: "id" });
      expect(res.body.message).toMatch(
        /^node id 'online' is reserved: \/api\/v1\/nodes\/online is an API route/,
      );
    }
  });

  it("GET /api/v1/nodes/:id/health answers the node's health with every field", async () => {
    const { status, body } = await get("/api/v1/nodes/w1/health");
    expect(status).toBe(200);
    expect(body).toEqual({
      node_id: "w1",
      status: "online",
      health: null,
      healthy: true,
      reason: null,
      last_heartbeat: T0,
      seconds_since_heartbeat: 12,
      missed_heartbeats: 0,
      cpu_usage: 0,
      memory_usage: 0,
      disk_usage: 0,
      running_tasks: 1,
      max_concurrent_tasks: 4,
      available_capacity: 3,
      draining: false,
      circuit_breaker: null,
      checked_at: NOW.toISOString(),
    });
    const w4 = (await get("/api/v1/nodes/w4/health")).body;
    expect(w4).toMatchObject({
      status: "offline",
      health: "offline",
      healthy: false,
      reason: "no heartbeat for 90s",
    });
    expect((await get("/api/v1/nodes/nope/health")).status).toBe(404);
  });

  it("a drained node is in maintenance (not online, its capacity not counted) until undrained, across a restart of its worker", async () => {
    const drain = { since: T0, reason: "kernel upgrade", session: null };
    store.applyBatch([{ ...nodeRecord("w1", { skills: ["python", "shell"], max: 4, running: 1 }), drain }]);
    const w1 = (await get("/api/v1/nodes/w1")).body;
    expect(w1).toMatchObject({
      status: "maintenance",
      draining: true,
      drain: { since: T0, reason: "kernel upgrade", by: "operator" },
    });
    expect((await get("/api/v1/nodes/w1/health")).body).toMatchObject({
      status: "maintenance",
      draining: true,
    });
    expect((await get("/api/v1/nodes/online")).body.map((n: { node_id: string }) => n.node_id)).toEqual([
      "w2",
    ]);
    expect(
      (await get("/api/v1/nodes?status=maintenance")).body.map((n: { node_id: string }) => n.node_id),
    ).toEqual(["w1"]);
    // Health news does not bring it back: only an undrain does.
    store.applyBatch([], [healthRecord("w1", "online")]);
    expect((await get("/api/v1/nodes/w1")).body.status).toBe("maintenance");
    store.applyBatch([nodeRecord("w1", { skills: ["python", "shell"], max: 4, running: 1 })]);
    expect((await get("/api/v1/nodes/w1")).body).toMatchObject({
      status: "online",
      draining: false,
      drain: null,
    });
  });

  it("a node whose circuit breaker is open is in error and unhealthy; its breaker shows in the node and its health, even when it came before the node", async () => {
    const open = {
      node_id: "w1",
      state: "open" as const,
      failures: 5,
      opened_at: T0,
      retry_at: NOW.toISOString(),
      trial_successes: 0,
      last_error: "OC-6001: boom",
      updated_at: T0,
    };
    store.putBreaker(open);
    const { node_id: _, ...shown } = open;
    expect((await get("/api/v1/nodes/w1")).body).toMatchObject({ status: "error", circuit_breaker: shown });
    expect((await get("/api/v1/nodes/w1/health")).body).toMatchObject({
      status: "error",
      healthy: false,
      circuit_breaker: shown,
    });
    store.putBreaker({ ...open, state: "half_open" });
    expect((await get("/api/v1/nodes/w1")).body).toMatchObject({
      status: "online",
      circuit_breaker: { state: "half_open" },
    });
    // A breaker for a node the coordinator has not seen yet is kept for it.
    store.putBreaker({ ...open, node_id: "w9" });
    store.applyBatch([nodeRecord("w9")]);
    expect((await get("/api/v1/nodes/w9")).body).toMatchObject({
      status: "error",
      circuit_breaker: { failures: 5 },
    });
  });

  it("POST /api/v1/nodes/:id/drain and /undrain: 404 for an unknown node, 503 without NATS, 400 naming a bad field", async () => {
    const post = (url: string, payload?: object) =>
      api.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload }) }).then((r) => ({
        status: r.statusCode,
        body: r.json(),
      }));
    expect((await post("/api/v1/nodes/nope/drain")).body).toMatchObject({ code: "OC-4004" });
    expect(await post("/api/v1/nodes/w1/drain")).toMatchObject({ status: 503, body: { code: "OC-5003" } });
    expect(await post("/api/v1/nodes/w1/undrain", { reason: "" })).toMatchObject({
      status: 400,
      body: { field: "reason" },
    });
    expect(await post("/api/v1/nodes/w1/drain", { reason: "x", extra: 1 })).toMatchObject({ status: 400 });
  });

  it("GET /api/v1/nodes/:id/events answers the history newest first, up to ?limit=", async () => {
    store.recordEvent(5, offlineEvent("w3"));
    store.recordEvent(6, leftEvent("w3", "SIGINT"));
    store.recordEvent(7, leftEvent("w1"));
    const { body } = await get("/api/v1/nodes/w3/events");
    expect(body).toEqual([
      { seq: 6, node_id: "w3", kind: "left", at: expect.any(String), reason: "SIGINT" },
      {
        seq: 5,
        node_id: "w3",
        kind: "offline",
        at: expect.any(String),
        reason: "no heartbeat for 90s",
        last_seen: T0,
      },
    ]);
    expect((await get("/api/v1/nodes/w3/events?limit=1")).body).toHaveLength(1);
    for (const limit of ["0", "1001", "x"]) {
      const bad = await get(`/api/v1/nodes/w3/events?limit=${limit}`);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: "OC-4000", field: "limit" });
    }
    expect((await get("/api/v1/nodes/nope/events")).status).toBe(404);
  });

  it("GET /api/v1/cluster/health counts nodes and capacity of the nodes that are up", async () => {
    const { status, body } = await get("/api/v1/cluster/health");
    expect(status).toBe(200);
    expect(body).toEqual({
      checked_at: NOW.toISOString(),
      timestamp: NOW.toISOString(),
      total_nodes: 4,
      nodes_by_status: { online: 1, offline: 2, busy: 1, maintenance: 0, error: 0 },
      online_nodes: 2,
      offline_nodes: 2,
      busy_nodes: 1,
      timeout_nodes_count: 1,
      total_capacity: 6,
      used_capacity: 3,
      available_capacity: 3,
      capacity_utilization: 50,
    });
  });

  it("GET /api/v1/cluster/health of an empty cluster is all zeros", async () => {
    const empty = openStore(tmp.file("empty.db"));
    const app = buildApi({ store: empty, log: silentLogger(), instance: "c2" });
    try {
      const body = (await app.inject({ method: "GET", url: "/api/v1/cluster/health" })).json();
      expect(body).toMatchObject({ total_nodes: 0, total_capacity: 0, capacity_utilization: 0 });
    } finally {
      await app.close();
      empty.close();
    }
  });

  it("answers 404 OC-4005 for an unknown route", async () => {
    const res = await get("/api/v1/nope?x=1");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      statusCode: 404,
      error: "Not Found",
      code: "OC-4005",
      message: expect.stringContaining("no route GET /api/v1/nope"),
    });
  });

  it("answers 500 OC-5000 without internals when the store fails, and logs the cause", async () => {
    const { log, lines } = captureLogger();
    const broken = openStore(tmp.file("broken.db"));
    const app = buildApi({ store: broken, log, instance: "c3" });
    broken.close();
    try {
      const res = await app.inject({ method: "GET", url: "/api/v1/nodes" });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ statusCode: 500, error: "Internal Server Error", code: "OC-5000" });
      expect(res.json().message).not.toMatch(/database|sqlite/i);
      expect(lines).toContainEqual(expect.objectContaining({ level: "error", error_code: "OC-5000" }));
    } finally {
      await app.close();
    }
  });
});
