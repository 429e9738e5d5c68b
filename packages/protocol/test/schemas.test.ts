import { nodeDescriptor } from "@openclaw/testing";
import { describe, expect, it } from "vitest";
import { envelope, NodeEvent, NodeHeartbeat, NodeRegister } from "../src/index.js";

const sender = { service: "worker", instance: "w1" };

const descriptor = nodeDescriptor("w1", {
  labels: { gpu: "true" },
  skills: [{ name: "echo", version: "1.0.0", description: "echo" }],
});

describe("node messages", () => {
  it("accepts a well-formed registration", () => {
    const msg = { ...envelope(sender), node: descriptor };
    expect(NodeRegister.safeParse(msg).success).toBe(true);
  });

  it("rejects unknown fields, so typos and hostile extras never pass", () => {
    const msg = { ...envelope(sender), node: { ...descriptor, evil: true } };
    const parsed = NodeRegister.safeParse(msg);
    expect(parsed.success).toBe(false);
  });

  it("rejects skill names that are not subject tokens", () => {
    const msg = {
      ...envelope(sender),
      node: { ...descriptor, skills: [{ name: "a.b", version: null, description: "" }] },
    };
    const parsed = NodeRegister.safeParse(msg);
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues[0]?.path)).toContain("skills");
  });

  // Hardening item 11: a register message listing skill 'echo' twice was accepted, leaving which
  // entry counts to chance.
  it("rejects a registration that lists one skill name twice, naming the entry", () => {
    const echo = { name: "echo", version: "1.0.0", description: "echo" };
    const other = { name: "sleep", version: null, description: "" };
    const msg = {
      ...envelope(sender),
      node: { ...descriptor, skills: [echo, other, { ...echo, version: "2.0.0" }] },
    };
    const parsed = NodeRegister.safeParse(msg);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues).toHaveLength(1);
    expect(parsed.error?.issues[0]?.path).toEqual(["node", "skills", 2, "name"]);
    expect(parsed.error?.issues[0]?.message).toBe(
      "skill 'echo' is listed twice (entries 0 and 2); each skill name may appear once",
    );
  });

  // Hardening item 11: a worker registering as 'online' or 'skills' was accepted, though
  // GET /api/v1/nodes/online and /api/v1/nodes/skills/:skill shadow /api/v1/nodes/:id for it.
  it.each(["online", "skills", "Online"])("rejects a registration under the reserved node id %j", (id) => {
    const msg = { ...envelope(sender), node: { ...descriptor, node_id: id } };
    const parsed = NodeRegister.safeParse(msg);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["node", "node_id"]);
    expect(parsed.error?.issues[0]?.message).toContain("is reserved");
    const hb = {
      ...envelope(sender),
      node_id: id,
      session: "s-1",
      load: { cpu_usage: 1, memory_usage: 1, disk_usage: 1, running_tasks: 0, running_task_ids: [] },
    };
    expect(NodeHeartbeat.safeParse(hb).success).toBe(false);
  });

  it("rejects out-of-range load", () => {
    const hb = {
      ...envelope(sender),
      node_id: "w1",
      session: "s-1",
      load: { cpu_usage: 140, memory_usage: 1, disk_usage: 1, running_tasks: 0, running_task_ids: [] },
    };
    expect(NodeHeartbeat.safeParse(hb).success).toBe(false);
  });

  it("rejects a message from another protocol version", () => {
    const msg = { ...envelope(sender), v: 2, node: descriptor };
    expect(NodeRegister.safeParse(msg).success).toBe(false);
  });
});

describe("node events", () => {
  it("discriminates on kind", () => {
    const e = NodeEvent.parse({
      ...envelope(sender),
      node_id: "w1",
      kind: "offline",
      reason: "heartbeat_timeout",
      last_seen: null,
    });
    expect(e.kind).toBe("offline");
    expect(NodeEvent.safeParse({ ...envelope(sender), node_id: "w1", kind: "exploded" }).success).toBe(false);
  });
});
