import { EMPTY_STATS, envelope, type NodeDescriptor, type NodeRecord } from "@openclaw/protocol";
import { nodeDescriptor } from "@openclaw/testing";
import { describe, expect, it } from "vitest";
import { applyNodeMessage, type NodeMessage } from "../src/apply.js";

const sender = { service: "worker", instance: "w1" };
const T0 = "2026-11-21T10:00:00.000Z";
const T1 = "2026-11-21T10:00:05.000Z";

function node(session = "s1", skills = ["echo"]): NodeDescriptor {
  return nodeDescriptor("w1", {
    session,
    skills: skills.map((name) => ({ name, version: null, description: "" })),
    started_at: T0,
  });
}

const register = (n: NodeDescriptor): NodeMessage => ({
  kind: "register",
  body: { ...envelope(sender), node: n },
});
const heartbeat = (session = "s1", running = 1): NodeMessage => ({
  kind: "heartbeat",
  body: {
    ...envelope(sender),
    node_id: "w1",
    session,
    load: { cpu_usage: 10, memory_usage: 20, disk_usage: 30, running_tasks: running, running_task_ids: [] },
  },
});
const leave = (session = "s1"): NodeMessage => ({
  kind: "leave",
  body: { ...envelope(sender), node_id: "w1", session, reason: "bye" },
});

function written(o: ReturnType<typeof applyNodeMessage>): NodeRecord {
  if (o.action !== "write") throw new Error(`expected a write, got ${o.action}`);
  return o.record;
}

describe("registry: applying node messages", () => {
  it("a first registration is a join, stamped with the server's time", () => {
    const o = applyNodeMessage(undefined, register(node()), 1, T0);
    expect(o).toMatchObject({ action: "write", event: "joined" });
    expect(written(o)).toMatchObject({
      state: "active",
      registered_at: T0,
      last_heartbeat: T0,
      applied_seq: 1,
    });
  });

  it("re-registering the same session with changed skills is an update; unchanged is silent", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const same = applyNodeMessage(rec, register(node()), 2, T1);
    expect(same.action).toBe("write");
    expect("event" in same && same.event).toBeFalsy();
    const changed = applyNodeMessage(rec, register(node("s1", ["echo", "sleep"])), 3, T1);
    expect(changed).toMatchObject({ action: "write", event: "updated" });
    expect(written(changed).registered_at).toBe(T0);
  });

  it("a new session (restarted process) is a join again and keeps the task counters", () => {
    const rec = {
      ...written(applyNodeMessage(undefined, register(node()), 1, T0)),
      stats: { ...EMPTY_STATS, successful_tasks: 4 },
    };
    const o = applyNodeMessage(rec, register(node("s2")), 2, T1);
    expect(o).toMatchObject({ action: "write", event: "joined" });
    expect(written(o).stats.successful_tasks).toBe(4);
  });

  it("heartbeats update load and last_heartbeat", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const o = written(applyNodeMessage(rec, heartbeat("s1", 2), 2, T1));
    expect(o.load.running_tasks).toBe(2);
    expect(o.last_heartbeat).toBe(T1);
  });

  it("a heartbeat from an unknown node, another session or a left node asks for re-registration", () => {
    expect(applyNodeMessage(undefined, heartbeat(), 1, T0).action).toBe("reregister");
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    expect(applyNodeMessage(rec, heartbeat("other"), 2, T1).action).toBe("reregister");
    const left = written(applyNodeMessage(rec, leave(), 2, T1));
    expect(applyNodeMessage(left, heartbeat(), 3, T1).action).toBe("reregister");
  });

  it("leave marks the node left at once and clears its load", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const busy = written(applyNodeMessage(rec, heartbeat("s1", 2), 2, T0));
    const o = applyNodeMessage(busy, leave(), 3, T1);
    expect(o).toMatchObject({ action: "write", event: "left" });
    expect(written(o)).toMatchObject({ state: "left", left_at: T1 });
    expect(written(o).load.running_tasks).toBe(0);
  });

  it("ignores a leave from a stale session, and a second leave", () => {
    const rec = written(applyNodeMessage(undefined, register(node("s2")), 1, T0));
    expect(applyNodeMessage(rec, leave("s1"), 2, T1).action).toBe("ignore");
    const left = written(applyNodeMessage(rec, leave("s2"), 2, T1));
    expect(applyNodeMessage(left, leave("s2"), 3, T1).action).toBe("ignore");
  });

  it("ignores reordered messages by stream sequence", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 5, T0));
    expect(applyNodeMessage(rec, heartbeat(), 4, T1)).toEqual({ action: "ignore", why: "already applied" });
  });

  it("a redelivered message that produced an event asks for the event again (deduplicated downstream)", () => {
    const joined = written(applyNodeMessage(undefined, register(node()), 5, T0));
    expect(applyNodeMessage(joined, register(node()), 5, T1)).toMatchObject({
      action: "ignore",
      republish: "joined",
    });
    const beat = written(applyNodeMessage(joined, heartbeat(), 6, T1));
    expect(applyNodeMessage(beat, heartbeat(), 6, T1)).toEqual({ action: "ignore", why: "already applied" });
    const left = written(applyNodeMessage(beat, leave(), 7, T1));
    expect(applyNodeMessage(left, leave(), 7, T1)).toMatchObject({ republish: "left" });
  });
});
