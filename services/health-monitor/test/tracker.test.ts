import type { NodeRecord } from "@openclaw/protocol";
import { nodeDescriptor, nodeRecord } from "@openclaw/testing";
import { describe, expect, it } from "vitest";
import { HealthTracker } from "../src/tracker.js";

const INTERVAL = 1000;

function record(session = "s1", state: "active" | "left" = "active"): NodeRecord {
  return nodeRecord(nodeDescriptor("w1", { session, heartbeat_interval_ms: INTERVAL }), { state });
}

function tracker() {
  return new HealthTracker({ heartbeatTimeoutMs: 5000, unhealthyThreshold: 3, healthyThreshold: 2 });
}

describe("health tracker", () => {
  it("a registered node is online without an event of its own (the join is the registry's)", () => {
    const t = tracker();
    expect(t.observeNode(record(), 0)).toEqual({
      nodeId: "w1",
      from: undefined,
      to: "online",
      reason: "registered",
      emit: false,
    });
    expect(t.check(500)).toEqual([]);
  });

  it("marks a node suspect after unhealthy_threshold missed heartbeats, offline after the timeout", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    expect(t.check(2999)).toEqual([]);
    expect(t.check(3000)).toMatchObject([{ to: "suspect", from: "online", emit: true }]);
    expect(t.check(4000)).toEqual([]);
    expect(t.check(5001)).toMatchObject([{ to: "offline", from: "suspect", reason: "heartbeat_timeout" }]);
    expect(t.check(9000)).toEqual([]);
    expect(t.record("w1", 9000)?.missed_heartbeats).toBe(5); // frozen once offline
  });

  it("regular heartbeats keep a node online", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    for (let now = 900; now < 20_000; now += 900) {
      expect(t.observeHeartbeat("w1", "s1", now)).toBeUndefined();
      expect(t.check(now + 100)).toEqual([]);
    }
  });

  it("needs healthy_threshold heartbeats in a row to come back online", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    t.check(6000);
    expect(t.observeHeartbeat("w1", "s1", 7000)).toBeUndefined();
    expect(t.observeHeartbeat("w1", "s1", 8000)).toMatchObject({ to: "online", from: "offline", emit: true });
  });

  it("ignores heartbeats of another session and of unknown nodes", () => {
    const t = tracker();
    expect(t.observeHeartbeat("nobody", "s", 1)).toBeUndefined();
    t.observeNode(record(), 0);
    t.check(6000);
    t.observeHeartbeat("w1", "old", 6100);
    t.observeHeartbeat("w1", "old", 6200);
    expect(t.record("w1", 6200)?.status).toBe("offline");
  });

  it("a node that left is offline at once, silently, and is no longer aged", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    expect(t.observeNode(record("s1", "left"), 100)).toMatchObject({
      to: "offline",
      reason: "left",
      emit: false,
    });
    expect(t.check(60_000)).toEqual([]);
  });

  it("a restarted worker (new session) is online at once", () => {
    const t = tracker();
    t.observeNode(record("s1"), 0);
    t.check(6000);
    expect(t.observeNode(record("s2"), 6500)).toMatchObject({ from: "offline", to: "online", emit: false });
  });

  it("adopts the published status of a previous leader for the same session", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    const published = t.record("w1", 0);
    if (!published) throw new Error("no record");
    t.adopt({ ...published, status: "offline", reason: "heartbeat_timeout" });
    expect(t.check(100)).toEqual([]);
    t.observeHeartbeat("w1", "s1", 200);
    expect(t.observeHeartbeat("w1", "s1", 300)).toMatchObject({ from: "offline", to: "online" });
  });

  it("keeps a record dirty until it is written, and again when it changes meanwhile", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    const [first] = t.dirty(0);
    expect(first?.record.status).toBe("online");
    expect(t.dirty(0)).toHaveLength(1); // not written yet: still dirty
    t.written("w1", first?.version ?? 0);
    expect(t.dirty(0)).toHaveLength(0);
    t.check(3000);
    const [second] = t.dirty(3000);
    expect(second?.record.status).toBe("suspect");
    t.check(5001); // changes again before the write of `second` lands
    t.written("w1", second?.version ?? 0);
    expect(t.dirty(5001)[0]?.record.status).toBe("offline");
  });

  it("needs the healthy heartbeats in a row: a gap restarts the count", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    t.check(6000);
    expect(t.observeHeartbeat("w1", "s1", 7000)).toBeUndefined();
    // 14 s of silence, then one heartbeat: not two in a row.
    expect(t.observeHeartbeat("w1", "s1", 21_000)).toBeUndefined();
    expect(t.observeHeartbeat("w1", "s1", 22_000)).toMatchObject({ to: "online" });
  });

  it("grace counts every node as just seen, after the monitor's own blindness", () => {
    const t = tracker();
    t.observeNode(record(), 0);
    t.grace(10_000);
    expect(t.check(10_500)).toEqual([]);
    expect(t.check(13_000)).toMatchObject([{ to: "suspect" }]);
  });
  describe("pings to late nodes (unreachable_timeout)", () => {
    const AFTER = 2000;

    /** A tracked node whose session has answered its first ping (at time 0). */
    function confirmed() {
      const t = tracker();
      t.observeNode(record(), 0);
      expect(t.toProbe(0, AFTER)).toEqual([{ nodeId: "w1", session: "s1" }]);
      t.probed("w1", "s1", "alive", 0, AFTER);
      return t;
    }

    it("asks a new session at once whether it answers pings, and again every 30 s until it does", () => {
      const t = tracker();
      t.observeNode(record(), 0);
      expect(t.toProbe(0, AFTER)).toHaveLength(1);
      expect(t.toProbe(10, AFTER)).toEqual([]); // one ping out at a time
      t.probed("w1", "s1", "unknown", 20, AFTER);
      expect(t.toProbe(29_999, AFTER)).toEqual([]);
      t.observeHeartbeat("w1", "s1", 29_999);
      expect(t.toProbe(30_000, AFTER)).toHaveLength(1);
    });

    it("pings a node that answers only once its heartbeat is late by the timeout and by half an interval", () => {
      const t = confirmed();
      expect(t.toProbe(1999, AFTER)).toEqual([]);
      expect(t.toProbe(2000, AFTER)).toEqual([{ nodeId: "w1", session: "s1" }]);
      // One ping out at a time, then at most one per interval.
      expect(t.toProbe(2500, AFTER)).toEqual([]);
      t.probed("w1", "s1", "unknown", 2600, AFTER);
      expect(t.toProbe(2900, AFTER)).toEqual([]);
      expect(t.toProbe(3000, AFTER)).toHaveLength(1);
      // A short timeout never pings a punctual node between two heartbeats.
      const u = tracker();
      u.observeNode(record(), 0);
      u.toProbe(0, 100);
      u.probed("w1", "s1", "alive", 0, 100);
      expect(u.toProbe(1400, 100)).toEqual([]);
      expect(u.toProbe(1500, 100)).toHaveLength(1);
    });

    it("a node nobody answers for any more is offline at once, before the heartbeat timeout", () => {
      const t = confirmed();
      t.toProbe(2000, AFTER);
      expect(t.probed("w1", "s1", "gone", 2001, AFTER)).toMatchObject({
        nodeId: "w1",
        from: "online",
        to: "offline",
        reason: "unreachable",
        emit: true,
      });
      expect(t.check(6000)).toEqual([]); // no second offline at the timeout
      expect(t.toProbe(6000, AFTER)).toEqual([]); // and no more pings
    });

    it("a session that never answered a ping (a worker without pings) waits for the heartbeat timeout", () => {
      const t = tracker();
      t.observeNode(record(), 0);
      t.toProbe(0, AFTER);
      expect(t.probed("w1", "s1", "gone", 0, AFTER)).toBeUndefined();
      expect(t.toProbe(2500, AFTER)).toEqual([]); // late, but not one to judge by pings
      expect(t.check(5001)).toMatchObject([{ to: "offline", reason: "heartbeat_timeout" }]);
    });

    it("an answer, or no answer in time, leaves the node to the heartbeat timeout", () => {
      const t = confirmed();
      t.toProbe(2000, AFTER);
      expect(t.probed("w1", "s1", "alive", 2001, AFTER)).toBeUndefined();
      t.toProbe(3000, AFTER);
      expect(t.probed("w1", "s1", "unknown", 4000, AFTER)).toBeUndefined();
      expect(t.check(5001)).toMatchObject([{ to: "offline", reason: "heartbeat_timeout" }]);
    });

    it("a heartbeat that arrives while the ping is out, or another session, keeps the node", () => {
      const t = confirmed();
      t.toProbe(2000, AFTER);
      t.observeHeartbeat("w1", "s1", 2001);
      expect(t.probed("w1", "s1", "gone", 2002, AFTER)).toBeUndefined();
      t.observeNode(record("s2"), 2100); // restarted: a new session
      expect(t.probed("w1", "s1", "gone", 4200, AFTER)).toBeUndefined();
      expect(t.record("w1", 4200)).toMatchObject({ session: "s2", status: "online" });
    });

    it("grace (this process was blind) postpones pings and their verdict", () => {
      const t = confirmed();
      t.toProbe(2000, AFTER);
      t.grace(2001);
      expect(t.probed("w1", "s1", "gone", 2002, AFTER)).toBeUndefined();
      expect(t.toProbe(3000, AFTER)).toEqual([]);
    });
  });
});
