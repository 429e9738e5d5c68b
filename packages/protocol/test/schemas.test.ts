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
