import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ApiNode,
  EXAMPLE_SKILLS,
  getJson,
  startTestCluster,
  type TestCluster,
  waitForNodes,
} from "./cluster.js";

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
});

afterAll(async () => {
  await c?.stop();
});

type Event = { seq: number; kind: string };

describe("coordinator restart", () => {
  it("a restarted coordinator still lists every node and catches up on the events it missed, once", async () => {
    const first = await c.coordinator("restart.db");
    const w1 = await c.worker("r-w1", EXAMPLE_SKILLS);
    const w2 = await c.worker("r-w2", EXAMPLE_SKILLS);
    await waitForNodes(first.url, (n) =>
      ["r-w1", "r-w2"].every((id) => n.some((x) => x.node_id === id && x.status === "online")),
    );
    expect(await first.proc.signal("SIGTERM")).toBe(0);

    // While the coordinator is down: one node dies, one leaves, one joins.
    const monitor = c.processes[1];
    const registry = c.processes[0];
    await w1.signal("SIGKILL");
    await w2.signal("SIGTERM");
    await c.worker("r-w3", EXAMPLE_SKILLS);
    await monitor?.waitForLog((l) => l.message === "node offline" && l.node_id === "r-w1", 15_000);
    await registry?.waitForLog((l) => l.message === "node left" && l.node_id === "r-w2");

    const second = await c.coordinator("restart.db");
    const nodes = await waitForNodes(second.url, (n) => {
      const by = new Map(n.map((x) => [x.node_id, x.status]));
      return by.get("r-w1") === "offline" && by.get("r-w2") === "offline" && by.get("r-w3") === "online";
    });
    expect(nodes.map((n: ApiNode) => n.node_id).sort()).toEqual(["r-w1", "r-w2", "r-w3"]);

    const h1 = (await getJson<Event[]>(`${second.url}/api/v1/nodes/r-w1/events`)).body.map((e) => e.kind);
    expect(h1.filter((k) => k === "joined")).toHaveLength(1);
    expect(h1.filter((k) => k === "offline")).toHaveLength(1);
    const h2 = (await getJson<Event[]>(`${second.url}/api/v1/nodes/r-w2/events`)).body.map((e) => e.kind);
    expect(h2).toEqual(["left", "joined"]);
    const h3 = (await getJson<Event[]>(`${second.url}/api/v1/nodes/r-w3/events`)).body.map((e) => e.kind);
    expect(h3).toEqual(["joined"]);
  });

  it("two coordinators on one NATS, each with its own database, give the same answers", async () => {
    const a = await c.coordinator("a.db");
    const b = await c.coordinator("b.db");
    const ready = (n: ApiNode[]) =>
      n.length === 3 && n.some((x) => x.node_id === "r-w3" && x.status === "online");
    await waitForNodes(a.url, ready);
    await waitForNodes(b.url, ready);
    const strip = (n: ApiNode[]) =>
      n
        .map((x) => ({ id: x.node_id, status: x.status, skills: x.available_skills }))
        .sort((p, q) => p.id.localeCompare(q.id));
    expect(strip((await getJson<ApiNode[]>(`${a.url}/api/v1/nodes`)).body)).toEqual(
      strip((await getJson<ApiNode[]>(`${b.url}/api/v1/nodes`)).body),
    );
    const ha = (await getJson<Record<string, unknown>>(`${a.url}/api/v1/cluster/health`)).body;
    const hb = (await getJson<Record<string, unknown>>(`${b.url}/api/v1/cluster/health`)).body;
    expect({ ...ha, checked_at: 0, timestamp: 0 }).toEqual({ ...hb, checked_at: 0, timestamp: 0 });
  });
});
