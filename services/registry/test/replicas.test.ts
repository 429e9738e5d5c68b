import { decode, encode, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { ConfigSchema } from "@openclaw/config";
import { silentLogger } from "@openclaw/log";
import { EMPTY_LOAD, envelope, NodeRecord } from "@openclaw/protocol";
import { type NatsServer, nodeDescriptor, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Registry, startRegistry } from "../src/index.js";

let server: NatsServer;
const contexts: ServiceContext[] = [];
const registries: Registry[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  for (const r of registries) await r.stop();
  for (const c of contexts) await c.close();
  await server?.stop();
});

async function context(prefix: string, instance: string): Promise<ServiceContext> {
  const config = ConfigSchema.parse({
    cluster: { subject_prefix: prefix },
    communication: { nats_url: server.url },
  });
  const ctx = await startServiceContext({ config, service: "registry", instance, log: silentLogger() });
  contexts.push(ctx);
  return ctx;
}

const sender = { service: "worker", instance: "sim" };
const skills = (...names: string[]) => names.map((name) => ({ name, version: null, description: "" }));

describe("two registries sharing the NODES stream", () => {
  it("lose no skills change and no leave, and publish each applied change once", async () => {
    const prefix = uniquePrefix();
    const a = await context(prefix, "reg-a");
    registries.push(await startRegistry(a), await startRegistry(await context(prefix, "reg-b")));
    const { js, names, kv } = a.cluster;
    const N = 60;
    const ids = Array.from({ length: N }, (_, i) => `sim-${i}`);
    const publish = (id: string, kind: "register" | "heartbeat" | "leave", body: object) =>
      js.publish(names.subjects.nodeMessage(id, kind), encode({ ...envelope(sender), ...body }));
    const heartbeat = (id: string, session: string) =>
      publish(id, "heartbeat", { node_id: id, session, load: EMPTY_LOAD });

    const states = async () =>
      (await Promise.all(ids.map((id) => kv.nodes.get(id)))).map((e) => {
        const d = e ? decode(NodeRecord, e.value) : undefined;
        return d?.ok ? d.value : undefined;
      });

    // Each node registers, changes its skills and heartbeats, back to back, handled by either replica.
    await Promise.all(
      ids.map(async (id) => {
        await publish(id, "register", {
          node: nodeDescriptor(id, { session: "s1", skills: skills("echo") }),
        });
        await publish(id, "register", {
          node: nodeDescriptor(id, { session: "s1", skills: skills("echo", "translate") }),
        });
        await heartbeat(id, "s1");
      }),
    );
    // A heartbeat handled before the node's first register is refused (the worker is asked to
    // register again): like a real worker, heartbeat again once every node is known.
    await waitFor(async () => (await states()).every((r) => r !== undefined), { timeout: 20_000 });
    await Promise.all(ids.map((id) => heartbeat(id, "s1")));
    const first = await waitFor(
      async () => {
        const all = await states();
        return all.every((r) => r?.heartbeat_seq && r.pending_event === null) ? all : undefined;
      },
      { timeout: 20_000, message: "not every node registered" },
    );
    // No skills change is lost to a heartbeat handled first by the other replica.
    for (const r of first) expect(r?.node.skills.map((s) => s.name)).toEqual(["echo", "translate"]);

    // Then every node restarts (a new session) and leaves at once; no leave is lost to a stale cache.
    await Promise.all(
      ids.map(async (id) => {
        await publish(id, "register", {
          node: nodeDescriptor(id, { session: "s2", skills: skills("echo", "translate") }),
        });
        await heartbeat(id, "s2");
        await publish(id, "leave", { node_id: id, session: "s2", reason: "bye" });
      }),
    );
    const records = await waitFor(
      async () => {
        const all = await states();
        return all.every((r) => r?.state === "left" && r.pending_event === null) ? all : undefined;
      },
      { timeout: 20_000, message: "not every node ended left" },
    );
    for (const r of records) expect(r?.node.session).toBe("s2");

    const info = await a.cluster.jsm.streams.info(names.streams.events, {
      subjects_filter: `${prefix}.evt.node.>`,
    });
    const counts = info.state.subjects ?? {};
    for (const id of ids) {
      expect(counts[names.subjects.nodeEvent(id, "joined")], id).toBe(2); // once per session
      // One update, unless the replicas applied the second register first (then the join has the new skills).
      expect(counts[names.subjects.nodeEvent(id, "updated")] ?? 0, id).toBeLessThanOrEqual(1);
      expect(counts[names.subjects.nodeEvent(id, "left")], id).toBe(1);
    }
  });

  it("creates its durable consumer again if it is deleted, and keeps working", async () => {
    const prefix = uniquePrefix();
    const ctx = await context(prefix, "reg-c");
    registries.push(await startRegistry(ctx));
    const { js, jsm, names, kv } = ctx.cluster;
    await jsm.consumers.delete(names.streams.nodes, names.consumers.registry);
    await js.publish(
      names.subjects.nodeMessage("after", "register"),
      encode({ ...envelope(sender), node: nodeDescriptor("after") }),
    );
    await waitFor(async () => (await kv.nodes.get("after"))?.operation === "PUT", { timeout: 15_000 });
  });
});
