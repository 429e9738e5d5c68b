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

const drain = (draining: boolean, session: string | null = null, reason = "kernel upgrade"): NodeMessage => ({
  kind: "drain",
  body: { ...envelope(sender), node_id: "w1", draining, reason, session },
});

function written(o: ReturnType<typeof applyNodeMessage>): NodeRecord {
  if (o.action !== "write") throw new Error(`expected a write, got ${o.action}`);
  return o.record;
}

function event(o: ReturnType<typeof applyNodeMessage>): string | undefined {
  return o.action === "write" ? o.record.pending_event?.kind : undefined;
}

describe("registry: applying node messages", () => {
  it("a first registration is a join, stamped with the server's time", () => {
    const o = applyNodeMessage(undefined, register(node()), 1, T0);
    expect(event(o)).toBe("joined");
    expect(written(o)).toMatchObject({
      state: "active",
      registered_at: T0,
      last_heartbeat: T0,
      membership_seq: 1,
    });
    expect(written(o).pending_event).toEqual({ kind: "joined", seq: 1, reason: "" });
  });

  it("re-registering the same session with changed skills is an update; unchanged is silent", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const same = applyNodeMessage(rec, register(node()), 2, T1);
    expect(same.action).toBe("write");
    expect(event(same)).toBeUndefined();
    const changed = applyNodeMessage(rec, register(node("s1", ["echo", "sleep"])), 3, T1);
    expect(event(changed)).toBe("updated");
    expect(written(changed).registered_at).toBe(T0);
  });

  it("a new session (restarted process) is a join again and keeps the task counters", () => {
    const rec = {
      ...written(applyNodeMessage(undefined, register(node()), 1, T0)),
      stats: { ...EMPTY_STATS, successful_tasks: 4 },
    };
    const o = applyNodeMessage(rec, register(node("s2")), 2, T1);
    expect(event(o)).toBe("joined");
    expect(written(o).stats.successful_tasks).toBe(4);
  });

  it("heartbeats update load and last_heartbeat, and carry no event", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const o = applyNodeMessage({ ...rec, pending_event: null }, heartbeat("s1", 2), 2, T1);
    expect(written(o).load.running_tasks).toBe(2);
    expect(written(o).last_heartbeat).toBe(T1);
    expect(event(o)).toBeUndefined();
  });

  it("a heartbeat handled before an earlier register does not hide that register", () => {
    // Replica A handles heartbeat seq 7 first; replica B then handles register seq 6 (new skills).
    const rec = { ...written(applyNodeMessage(undefined, register(node()), 1, T0)), pending_event: null };
    const beat = written(applyNodeMessage(rec, heartbeat("s1"), 7, T1));
    const o = applyNodeMessage(beat, register(node("s1", ["echo", "translate"])), 6, T1);
    expect(event(o)).toBe("updated");
    expect(written(o).node.skills.map((s) => s.name)).toEqual(["echo", "translate"]);
    expect(written(o).last_heartbeat).toBe(T1);
  });

  it("a heartbeat from an unknown node, another session or a left node asks for re-registration", () => {
    expect(applyNodeMessage(undefined, heartbeat(), 1, T0).action).toBe("reregister");
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    expect(applyNodeMessage(rec, heartbeat("other"), 2, T1).action).toBe("reregister");
    const left = written(applyNodeMessage(rec, leave(), 2, T1));
    expect(applyNodeMessage(left, heartbeat(), 3, T1).action).toBe("reregister");
  });

  it("leave marks the node left at once, clears its load and keeps the worker's reason", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 1, T0));
    const busy = written(applyNodeMessage(rec, heartbeat("s1", 2), 2, T0));
    const o = applyNodeMessage(busy, leave(), 3, T1);
    expect(written(o)).toMatchObject({
      state: "left",
      left_at: T1,
      pending_event: { kind: "left", seq: 3, reason: "bye" },
    });
    expect(written(o).load.running_tasks).toBe(0);
  });

  it("ignores a leave from a stale session, and a second leave", () => {
    const rec = written(applyNodeMessage(undefined, register(node("s2")), 1, T0));
    expect(applyNodeMessage(rec, leave("s1"), 2, T1).action).toBe("ignore");
    const left = written(applyNodeMessage(rec, leave("s2"), 2, T1));
    expect(applyNodeMessage(left, leave("s2"), 3, T1).action).toBe("ignore");
  });

  it("ignores redelivered and reordered messages of the same kind by stream sequence", () => {
    const rec = written(applyNodeMessage(undefined, register(node()), 5, T0));
    expect(applyNodeMessage(rec, register(node("s1", ["x"])), 5, T1).action).toBe("ignore");
    expect(applyNodeMessage(rec, register(node("s1", ["x"])), 4, T1).action).toBe("ignore");
    const beat = written(applyNodeMessage(rec, heartbeat(), 9, T1));
    expect(applyNodeMessage(beat, heartbeat("s1", 3), 8, T1)).toEqual({
      action: "ignore",
      why: "already applied",
    });
  });

  describe("drain", () => {
    const joined = () => ({
      ...written(applyNodeMessage(undefined, register(node("s1")), 1, T0)),
      pending_event: null,
    });

    it("an operator's drain marks the node drained with an update event, survives a restart of its worker, and ends with an undrain", () => {
      const drained = written(applyNodeMessage(joined(), drain(true), 2, T1));
      expect(drained.drain).toEqual({ since: T1, reason: "kernel upgrade", session: null });
      expect(drained.pending_event).toEqual({ kind: "updated", seq: 2, reason: "draining: kernel upgrade" });
      const restarted = written(
        applyNodeMessage({ ...drained, pending_event: null }, register(node("s2")), 3, T1),
      );
      expect(restarted.drain).toEqual(drained.drain);
      expect(restarted.pending_event?.reason).toBe("drained: kernel upgrade");
      const undrained = written(applyNodeMessage({ ...restarted, pending_event: null }, drain(false), 4, T1));
      expect(undrained.drain).toBeNull();
      expect(undrained.pending_event).toEqual({ kind: "updated", seq: 4, reason: "undrained" });
    });

    it("a worker's own drain applies to its session only, and ends when a new process registers", () => {
      const rec = joined();
      expect(applyNodeMessage(rec, drain(true, "old-session"), 2, T1)).toMatchObject({ action: "ignore" });
      const drained = written(applyNodeMessage(rec, drain(true, "s1", "SIGTERM"), 2, T1));
      expect(drained.drain).toEqual({ since: T1, reason: "SIGTERM", session: "s1" });
      const next = written(
        applyNodeMessage({ ...drained, pending_event: null }, register(node("s2")), 3, T1),
      );
      expect(next.drain).toBeNull();
    });

    it("ignores a replayed or older drain message, and a drain of an unknown node", () => {
      const drained = written(applyNodeMessage(joined(), drain(true), 5, T1));
      expect(applyNodeMessage(drained, drain(false), 5, T1)).toMatchObject({ action: "ignore" });
      expect(applyNodeMessage(drained, drain(false), 4, T1)).toMatchObject({ action: "ignore" });
      expect(applyNodeMessage(undefined, drain(true), 6, T1)).toMatchObject({ action: "ignore" });
      // A register handled in between does not hide a later drain.
      const reg = written(applyNodeMessage({ ...drained, pending_event: null }, register(node("s1")), 9, T1));
      expect(written(applyNodeMessage(reg, drain(false), 7, T1)).drain).toBeNull();
    });
  });
});
