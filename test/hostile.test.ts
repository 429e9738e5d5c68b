import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connectBus, encode, type NatsConnection } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { envelope, names } from "@openclaw/protocol";
import { nodeDescriptor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

let c: TestCluster;
let api: string;
let nc: NatsConnection;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
  api = (await c.coordinator()).url;
  nc = await connectBus({ url: c.nats.url, name: "attacker", connectTimeoutMs: 5000, log: silentLogger() });
});

afterAll(async () => {
  await nc?.close();
  await c?.stop();
});

describe("hostile input on the bus", () => {
  it("corrupt and hostile node messages are logged and dropped; nothing crashes; real nodes still join", async () => {
    const n = names(c.prefix);
    const registry = c.processes[0];
    const sender = { service: "worker", instance: "x" };
    const node = (id: string) => nodeDescriptor(id, { heartbeat_interval_ms: 200 });
    const js = jetstream(nc);
    const hostile: [string, Uint8Array][] = [
      [n.subjects.nodeMessage("evil1", "register"), new TextEncoder().encode("\u0000\u00ffnot json at all")],
      [n.subjects.nodeMessage("evil2", "register"), encode({ hello: "world" })],
      // A body that claims to be another node than its subject says.
      [n.subjects.nodeMessage("evil3", "register"), encode({ ...envelope(sender), node: node("victim") })],
      // An id that would be a subject wildcard, smuggled in the body.
      [
        n.subjects.nodeMessage("evil4", "register"),
        encode({ ...envelope(sender), node: { ...node("evil4"), node_id: "a.>" } }),
      ],
      [
        n.subjects.nodeMessage("evil5", "heartbeat"),
        encode({ ...envelope(sender), node_id: "evil5", session: "s", load: { cpu_usage: "lots" } }),
      ],
      [n.subjects.nodeMessage("evil6", "leave"), encode([1, 2, 3])],
      [`${c.prefix}.node.evil7.explode`, encode({})],
    ];
    for (const [subject, data] of hostile) {
      if (subject.endsWith(".explode")) nc.publish(subject, data);
      else await js.publish(subject, data);
    }
    // Hostile events and KV values aimed at the coordinator and the health monitor.
    await js.publish(n.subjects.nodeEvent("evil8", "joined"), new TextEncoder().encode("{broken"));
    const kv = await new Kvm(js).open(n.buckets.nodes);
    await kv.put("evil9", new TextEncoder().encode("garbage"));
    await nc.flush();

    await registry?.waitForLog((l) => l.error_code === "OC-2002" && String(l.subject).includes("evil1"));
    await registry?.waitForLog((l) => l.error_code === "OC-2002" && String(l.subject).includes("evil3"));
    await registry?.waitForLog((l) => l.error_code === "OC-2002" && String(l.subject).includes("evil5"));

    // The coordinator and the health monitor say what they dropped, too.
    const [, monitor, coordinator] = c.processes;
    await coordinator?.waitForLog((l) => l.error_code === "OC-2002" && String(l.subject).includes("evil8"));
    await coordinator?.waitForLog((l) => l.error_code === "OC-2002" && l.key === "evil9");
    await monitor?.waitForLog((l) => l.error_code === "OC-2002" && l.key === "evil9");

    await c.worker("honest", EXAMPLE_SKILLS);
    const nodes = await waitForNodes(api, (list) =>
      list.some((x) => x.node_id === "honest" && x.status === "online"),
    );
    expect(nodes.map((x) => x.node_id).filter((id) => id.startsWith("evil") || id === "victim")).toEqual([]);
    for (const p of c.processes) expect(p.child.exitCode, p.stderr()).toBeNull();
    const health = await getJson(`${api}/health`);
    expect(health.status).toBe(200);
  });
});

describe("ids that are not subject tokens", () => {
  it.each([
    ["a.b", "'.'"],
    ["*", "'*'"],
    [">", "'>'"],
    ["has space", "whitespace"],
  ])("a worker with node id %j refuses to start, naming the field", async (id, why) => {
    const proc = c.spawn("worker", ["--node-id", id, "--skills-dir", EXAMPLE_SKILLS]);
    expect(await proc.exited()).toBe(2);
    expect(proc.stderr()).toContain(`worker.node_id = ${JSON.stringify(id)} (from --node-id): node id ${""}`);
    expect(proc.stderr()).toContain(why);
  });

  it("the same from the environment names the variable", async () => {
    const proc = c.spawn("worker", ["--skills-dir", EXAMPLE_SKILLS], { OPENCLAW_NODE_ID: "x>y" });
    expect(await proc.exited()).toBe(2);
    expect(proc.stderr()).toContain("(from env OPENCLAW_NODE_ID)");
  });

  it("bad config prints one line per bad field and exits 2", async () => {
    const proc = c.spawn("worker", [
      "--heartbeat-interval",
      "often",
      "--max-concurrent-tasks",
      "-3",
      "--labels",
      "bad key=1",
    ]);
    expect(await proc.exited()).toBe(2);
    const lines = proc.stderr().trim().split("\n");
    expect(lines[0]).toContain("invalid configuration [OC-1001]");
    expect(lines.slice(1)).toHaveLength(3);
    expect(proc.stderr()).toContain(
      'worker.heartbeat_interval = "often" (from --heartbeat-interval): expected a duration',
    );
    expect(proc.stderr()).toContain('worker.max_concurrent_tasks = "-3"');
    expect(proc.stderr()).toContain("worker.labels");
  });
});
