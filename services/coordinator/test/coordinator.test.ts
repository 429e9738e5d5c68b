import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { healthRecord, joinedEvent, leftEvent, nodeRecord, offlineEvent, tempDir } from "./fixtures.js";
import { captureLogger, type EventJsonLike, getJson, Harness, type NodeJsonLike, writer } from "./harness.js";

describe("coordinator on a live cluster", () => {
  let server: NatsServer;
  let h: Harness;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    h = new Harness(server.url, uniquePrefix());
    tmp = tempDir();
  });
  afterEach(async () => {
    await h.closeAll();
    tmp.cleanup();
  });

  const ids = (nodes: NodeJsonLike[]) => nodes.map((n) => n.node_id);

  it("lists a node with its skills and status as soon as the registry writes it", async () => {
    const { log, lines } = captureLogger();
    const ctx = await h.context({ dbPath: tmp.file("c.db"), log });
    const c = await h.coordinator(ctx);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: "info", message: "coordinator listening", url: c.url }),
    );
    const w = writer(ctx);

    await w.putNode(nodeRecord("w1", { skills: ["python", "shell"], max: 2 }));
    const found = await waitFor(async () => {
      const { body } = await getJson<NodeJsonLike[]>(`${c.url}/api/v1/nodes/skills/python`);
      return body[0];
    });
    expect(found).toMatchObject({ node_id: "w1", status: "online", available_skills: ["python", "shell"] });

    await w.putNode(nodeRecord("w1", { skills: ["python", "shell"], max: 2, running: 2 }));
    await waitFor(
      async () => (await getJson<NodeJsonLike>(`${c.url}/api/v1/nodes/w1`)).body.status === "busy",
    );

    await w.putHealth(healthRecord("w1", "offline", "no heartbeat for 90s"));
    await waitFor(
      async () => (await getJson<NodeJsonLike>(`${c.url}/api/v1/nodes/w1`)).body.status === "offline",
    );
    expect((await getJson(`${c.url}/api/v1/nodes/online`)).body).toEqual([]);
    const health = await getJson(`${c.url}/health`);
    expect(health).toMatchObject({ status: 200, body: { status: "ok", nats: "connected" } });
    // Request lines are debug, never info.
    expect(lines.filter((l) => l.level === "info" && String(l.url ?? "").includes("/api/"))).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ level: "debug", message: "request completed" }));
  });

  it("applies a health record that arrives before the node's record", async () => {
    const ctx = await h.context({ dbPath: tmp.file("c.db") });
    const c = await h.coordinator(ctx);
    const w = writer(ctx);
    await w.putHealth(healthRecord("early", "offline"));
    await w.putNode(nodeRecord("early"));
    await waitFor(
      async () => (await getJson<NodeJsonLike>(`${c.url}/api/v1/nodes/early`)).body.status === "offline",
    );
  });

  it("logs and skips hostile KV values and events, and keeps answering", async () => {
    const { log, lines } = captureLogger();
    const ctx = await h.context({ dbPath: tmp.file("c.db"), log });
    const c = await h.coordinator(ctx);
    const { kv, js, names } = ctx.cluster;
    const w = writer(ctx);

    await kv.nodes.put("garbage", new Uint8Array([0xff, 0x00, 0x7b]));
    await kv.nodes.put("wrong", new TextEncoder().encode(JSON.stringify({ node: { node_id: "wrong" } })));
    await kv.nodes.put("mismatch", new TextEncoder().encode(JSON.stringify(nodeRecord("other"))));
    await kv.nodeHealth.put("w1", new TextEncoder().encode("not json"));
    await js.publish(names.subjects.nodeEvent("w1", "left"), new TextEncoder().encode("{oops"));
    await js.publish(
      names.subjects.nodeEvent("w1", "offline"),
      new TextEncoder().encode(JSON.stringify(leftEvent("w1"))),
    );
    await w.putNode(nodeRecord("w1", { skills: ["python"] }));
    await w.publish(leftEvent("w1"));

    const events = await waitFor(async () => {
      const { body } = await getJson<EventJsonLike[]>(`${c.url}/api/v1/nodes/w1/events`);
      return body.length > 0 ? body : undefined;
    });
    expect(events.map((e) => e.kind)).toEqual(["left"]);
    expect(events[0]?.seq).toBe(3);
    expect(ids((await getJson<NodeJsonLike[]>(`${c.url}/api/v1/nodes`)).body)).toEqual(["w1"]);

    const warned = lines.filter((l) => l.level === "warn" && l.error_code === "OC-2002");
    expect(warned.map((l) => l.key ?? l.subject).sort()).toEqual(
      [
        "garbage",
        "mismatch",
        "w1",
        "wrong",
        names.subjects.nodeEvent("w1", "left"),
        names.subjects.nodeEvent("w1", "offline"),
      ].sort(),
    );
    expect((await getJson(`${c.url}/health`)).status).toBe(200);
  });

  it("after a restart lists every node it has seen and catches up on missed history exactly once", async () => {
    const db = tmp.file("restart.db");
    const w = writer(await h.context());
    const first = await h.coordinator(await h.context({ dbPath: db }));

    await w.putNode(nodeRecord("w1", { skills: ["python"] }));
    await w.putNode(nodeRecord("w2", { skills: ["python"] }));
    await w.publish(joinedEvent("w1"));
    await w.publish(joinedEvent("w2"));
    await waitFor(
      async () => (await getJson<unknown[]>(`${first.url}/api/v1/nodes/w2/events`)).body.length === 1,
    );
    await waitFor(async () => (await getJson<unknown[]>(`${first.url}/api/v1/nodes`)).body.length === 2);
    await first.stop();

    // While it is down: a node leaves (and its key is deleted), one joins, one gets busy.
    await w.publish(leftEvent("w2"));
    await w.putNode(nodeRecord("w2", { skills: ["python"], state: "left" }));
    await w.putNode(nodeRecord("w3", { skills: ["rust"] }));
    await w.publish(joinedEvent("w3"));
    await w.putNode(nodeRecord("w1", { skills: ["python"], max: 1, running: 1 }));
    await w.publish(offlineEvent("w1"));

    const second = await h.coordinator(await h.context({ dbPath: db }));
    const nodes = await waitFor(async () => {
      const { body } = await getJson<NodeJsonLike[]>(`${second.url}/api/v1/nodes`);
      return body.length === 3 && body[0]?.status === "busy" ? body : undefined;
    });
    expect(nodes.map((n) => [n.node_id, n.status])).toEqual([
      ["w1", "busy"],
      ["w2", "offline"],
      ["w3", "online"],
    ]);
    const history = await waitFor(async () => {
      const { body } = await getJson<EventJsonLike[]>(`${second.url}/api/v1/nodes/w1/events`);
      return body.length >= 2 ? body : undefined;
    });
    expect(history.map((e) => [e.seq, e.kind])).toEqual([
      [5, "offline"],
      [1, "joined"],
    ]);
    const w2 = (await getJson<EventJsonLike[]>(`${second.url}/api/v1/nodes/w2/events`)).body;
    expect(w2.map((e) => [e.seq, e.kind])).toEqual([
      [3, "left"],
      [2, "joined"],
    ]);
    expect(
      (await getJson<EventJsonLike[]>(`${second.url}/api/v1/nodes/w3/events`)).body.map((e) => e.seq),
    ).toEqual([4]);
    expect(second.store.eventCursor()).toBe(5);
  });

  it("rebuilds history when the EVENTS stream was recreated while it was down", async () => {
    const db = tmp.file("recreate.db");
    const { log, lines } = captureLogger();
    const writerCtx = await h.context();
    const w = writer(writerCtx);
    const first = await h.coordinator(await h.context({ dbPath: db }));
    await w.putNode(nodeRecord("w1"));
    for (const e of [joinedEvent("w1"), offlineEvent("w1"), leftEvent("w1")]) await w.publish(e);
    await waitFor(() => first.store.eventCursor() === 3);
    await first.stop();

    await writerCtx.cluster.jsm.streams.delete(writerCtx.cluster.names.streams.events);
    const second = await h.coordinator(await h.context({ dbPath: db, log })); // provisioning recreates it
    await w.publish(joinedEvent("w1"));
    const events = await waitFor(async () => {
      const { body } = await getJson<EventJsonLike[]>(`${second.url}/api/v1/nodes/w1/events`);
      return body.length === 1 && body[0]?.seq === 1 ? body : undefined;
    });
    expect(events.map((e) => e.kind)).toEqual(["joined"]);
    expect(lines).toContainEqual(expect.objectContaining({ level: "warn", cursor: 3 }));
  });

  // Reproduction: `npm start -- --nats-url <another NATS>` reused ./data, and the read model kept
  // the first cluster's nodes as online (and its tasks pending) for good.
  it("starts its read model over when its file was built from another cluster", async () => {
    const db = tmp.file("moved.db");
    const w = writer(await h.context());
    const first = await h.coordinator(await h.context({ dbPath: db }));
    await w.putNode(nodeRecord("old-node"));
    await w.publish(joinedEvent("old-node"));
    await waitFor(async () => (await getJson<NodeJsonLike[]>(`${first.url}/api/v1/nodes`)).body.length === 1);
    await waitFor(() => first.store.eventCursor() === 1);
    await first.stop();

    const other = new Harness(server.url, uniquePrefix());
    try {
      const { log, lines } = captureLogger();
      const ow = writer(await other.context());
      await ow.putNode(nodeRecord("new-node"));
      const second = await other.coordinator(await other.context({ dbPath: db, log }));
      const nodes = await waitFor(async () => {
        const { body } = await getJson<NodeJsonLike[]>(`${second.url}/api/v1/nodes`);
        return body.length > 0 ? body : undefined;
      });
      expect(ids(nodes)).toEqual(["new-node"]);
      expect((await getJson(`${second.url}/api/v1/nodes/old-node/events`)).status).toBe(404);
      expect(lines).toContainEqual(expect.objectContaining({ level: "warn", error_code: "OC-5005" }));
      await second.stop();

      // Back on the same cluster, nothing is thrown away.
      const { log: log2, lines: lines2 } = captureLogger();
      const third = await other.coordinator(await other.context({ dbPath: db, log: log2 }));
      expect(ids((await getJson<NodeJsonLike[]>(`${third.url}/api/v1/nodes`)).body)).toEqual(["new-node"]);
      expect(lines2.filter((l) => l.error_code === "OC-5005")).toEqual([]);
    } finally {
      await other.closeAll();
    }
  });

  // Reproduction: a coordinator stopped while its EVENTS consumer was still being made never
  // finished stopping (closing an ordered consumer that never pulled waits for good). Found as
  // a 60 s timeout of the test above on a loaded machine.
  it("stops promptly when stopped right after it started", async () => {
    for (let i = 0; i < 10; i++) {
      const c = await h.coordinator(await h.context({ dbPath: tmp.file(`quick-${i}.db`) }));
      await c.stop();
    }
  });

  it("gives the same answers from two coordinators on different database files", async () => {
    const w = writer(await h.context());
    const a = await h.coordinator(await h.context({ dbPath: tmp.file("a.db"), instance: "a" }));
    await w.putNode(nodeRecord("w1", { skills: ["python"], max: 3, running: 1 }));
    await w.putNode(nodeRecord("w2", { skills: ["python", "gpu"], max: 2, running: 2 }));
    await w.putNode(nodeRecord("w3", { state: "left" }));
    await w.putHealth(healthRecord("w1", "suspect"));
    await w.publish(joinedEvent("w1"));
    await w.publish(leftEvent("w3"));
    const b = await h.coordinator(await h.context({ dbPath: tmp.file("b.db"), instance: "b" }));

    const answers = async (url: string) => {
      const paths = [
        "/api/v1/nodes",
        "/api/v1/nodes/online",
        "/api/v1/nodes/skills/python",
        "/api/v1/nodes/w1/events",
      ];
      const out: unknown[] = [];
      for (const p of paths) out.push((await getJson(url + p)).body);
      const {
        checked_at: _c,
        timestamp: _t,
        ...cluster
      } = (await getJson<Record<string, unknown>>(`${url}/api/v1/cluster/health`)).body;
      out.push(cluster);
      return out;
    };
    const ready = async (url: string) => {
      const events = (await getJson<unknown[]>(`${url}/api/v1/nodes/w1/events`)).body;
      const w1 = (await getJson<{ health: string | null }>(`${url}/api/v1/nodes/w1`)).body;
      return events.length === 1 && w1.health === "suspect";
    };
    await waitFor(() => ready(a.url));
    await waitFor(() => ready(b.url));
    const fromA = await answers(a.url);
    expect(await answers(b.url)).toEqual(fromA);
    expect(fromA[4]).toMatchObject({ total_nodes: 3, online_nodes: 2, total_capacity: 5, used_capacity: 3 });
  });
});

describe("coordinator when NATS goes away", () => {
  let server: NatsServer | undefined;
  let tmp: ReturnType<typeof tempDir>;
  let h: Harness;

  beforeAll(async () => {
    server = await startNatsServer();
    tmp = tempDir();
    h = new Harness(server.url, uniquePrefix());
  });
  afterAll(async () => {
    await h.closeAll();
    await server?.stop();
    tmp.cleanup();
  });

  it("keeps answering from SQLite, reports degraded health, and recovers when NATS is back", async () => {
    if (!server) throw new Error("no server");
    const ctx = await h.context({ dbPath: tmp.file("c.db") });
    const c = await h.coordinator(ctx);
    await writer(ctx).putNode(nodeRecord("w1", { skills: ["python"] }));
    await waitFor(async () => (await getJson<unknown[]>(`${c.url}/api/v1/nodes`)).body.length === 1);

    await server.stop({ keepStore: true });
    await waitFor(async () => (await getJson(`${c.url}/health`)).status === 503);
    expect((await getJson(`${c.url}/health`)).body).toMatchObject({
      status: "degraded",
      nats: "disconnected",
    });
    expect(ids((await getJson<NodeJsonLike[]>(`${c.url}/api/v1/nodes`)).body)).toEqual(["w1"]);

    server = await server.restart();
    await waitFor(async () => (await getJson(`${c.url}/health`)).status === 200, { timeout: 20_000 });
    await writer(ctx).putNode(nodeRecord("w2"));
    await writer(ctx).publish(joinedEvent("w2"));
    await waitFor(async () => (await getJson<unknown[]>(`${c.url}/api/v1/nodes`)).body.length === 2, {
      timeout: 20_000,
    });
    await waitFor(
      async () => (await getJson<unknown[]>(`${c.url}/api/v1/nodes/w2/events`)).body.length === 1,
      {
        timeout: 20_000,
      },
    );
  });

  it("stops promptly while NATS is down", async () => {
    if (!server) throw new Error("no server");
    const ctx = await h.context({ dbPath: tmp.file("stop.db") });
    const c = await h.coordinator(ctx);
    await server.stop({ keepStore: true });
    await waitFor(async () => (await getJson(`${c.url}/health`)).status === 503);
    const started = Date.now();
    await c.stop();
    expect(Date.now() - started).toBeLessThan(10_000); // not a timing goal: it must not hang
    await expect(fetch(`${c.url}/health`)).rejects.toThrow();
    server = await server.restart();
  });

  const ids = (nodes: NodeJsonLike[]) => nodes.map((n) => n.node_id);
});
