import type { ServiceProcess } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

let c: TestCluster;
let api: string;
let monitors: ServiceProcess[];

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry", ["--instance", "registry-1"]);
  c.spawn("registry", ["--instance", "registry-2"]);
  monitors = [
    c.spawn("health-monitor", ["--instance", "hm-1"]),
    c.spawn("health-monitor", ["--instance", "hm-2"]),
  ];
  api = (await c.coordinator()).url;
});

afterAll(async () => {
  await c?.stop();
});

type Event = { kind: string };
const kinds = async (id: string) =>
  (await getJson<Event[]>(`${api}/api/v1/nodes/${id}/events`)).body.map((e) => e.kind);

describe("two registries and two health monitors", () => {
  it("give the same answers as one: every event exactly once", async () => {
    const workers = await Promise.all(["x-1", "x-2", "x-3", "x-4"].map((id) => c.worker(id, EXAMPLE_SKILLS)));
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 4);

    await workers[0]?.signal("SIGKILL");
    await workers[1]?.signal("SIGTERM");
    await waitForNodes(api, (n) => {
      const by = new Map(n.map((x) => [x.node_id, x.status]));
      return by.get("x-1") === "offline" && by.get("x-2") === "offline" && by.get("x-3") === "online";
    });
    // Let both replicas of each service see a few more heartbeats of the live nodes.
    const seen = (await getJson<{ last_heartbeat: string }>(`${api}/api/v1/nodes/x-3`)).body.last_heartbeat;
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "x-3" && x.last_heartbeat !== seen));

    expect(await kinds("x-1")).toEqual(["offline", "suspect", "joined"]);
    expect(await kinds("x-2")).toEqual(["left", "joined"]);
    expect(await kinds("x-3")).toEqual(["joined"]);
    const health = (await getJson<Record<string, number>>(`${api}/api/v1/cluster/health`)).body;
    expect(health).toMatchObject({
      total_nodes: 4,
      online_nodes: 2,
      offline_nodes: 2,
      timeout_nodes_count: 1,
    });
    // The registries shared the work (one durable consumer), and exactly one monitor led.
    const leaders = monitors.filter((m) => m.logs.some((l) => l.message === "elected leader"));
    expect(leaders).toHaveLength(1);
  });

  it("when the active health monitor is killed, the standby takes over and still detects dead nodes", async () => {
    const leader = monitors.find((m) => m.logs.some((l) => l.message === "elected leader")) as ServiceProcess;
    const standby = monitors.find((m) => m !== leader) as ServiceProcess;
    await leader.signal("SIGKILL");
    await standby.waitForLog((l) => l.message === "elected leader", 10_000);

    const victim = c.processes.find((p) =>
      p.logs.some((l) => l.node_id === "x-3" && l.message === "registered"),
    );
    await victim?.signal("SIGKILL");
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "x-3" && x.status === "offline"), 15_000);
    expect(await kinds("x-3")).toEqual(["offline", "suspect", "joined"]);
    expect((await getJson<Record<string, number>>(`${api}/api/v1/nodes/x-4`)).body.status).toBe("online");
  });
});
