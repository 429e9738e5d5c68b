import { describe, expect, it } from "vitest";
import { backoffMs } from "../src/backoff.js";
import { place, rendezvous } from "../src/placement.js";
import { node, spec } from "./fixtures.js";

const opts = (strategy: Parameters<typeof place>[2]["strategy"] = "least-loaded") => ({
  strategy,
  cursors: new Map(),
  classKey: "k",
});

describe("placement", () => {
  it("never picks a node without every required skill", () => {
    const p = place(
      spec({ required_skills: ["echo", "pdf"] }),
      [node("a"), node("b", { skillList: ["echo", "pdf"] })],
      opts(),
    );
    expect(p.node?.id).toBe("b");
  });

  it("says why a task has to wait", () => {
    expect(place(spec({ required_skills: ["translate"] }), [node("a")], opts()).reason).toBe(
      "no online node has skill translate",
    );
    expect(place(spec(), [node("a", { unusable: "offline" })], opts()).reason).toBe(
      "the nodes with skill echo are offline",
    );
    const gpu = spec({ constraints: { labels: { gpu: "true" }, zone: null, prefer_zone: null, node: null } });
    expect(place(gpu, [node("a")], opts()).reason).toBe("no online node with skill echo matches gpu=true");
    expect(place(spec(), [node("a", { inflight: 2 }), node("b", { inflight: 2 })], opts()).reason).toBe(
      "all 2 nodes that can run it are full (4/4 slots busy)",
    );
  });

  it("matches labels, zone, and a required node by id or role", () => {
    const nodes = [
      node("a", { labels: { gpu: "true" }, zone: "eu" }),
      node("b", { labels: { role: "coordinator" }, zone: "us" }),
    ];
    const c = (x: Partial<ReturnType<typeof spec>["constraints"]>) =>
      spec({ constraints: { labels: {}, zone: null, prefer_zone: null, node: null, ...x } });
    expect(place(c({ labels: { gpu: "true" } }), nodes, opts()).node?.id).toBe("a");
    expect(place(c({ zone: "us" }), nodes, opts()).node?.id).toBe("b");
    expect(place(c({ node: "coordinator" }), nodes, opts()).node?.id).toBe("b");
    expect(place(c({ node: "a" }), nodes, opts()).node?.id).toBe("a");
    expect(place(c({ prefer_zone: "us" }), nodes, opts()).node?.id).toBe("b");
    expect(place(c({ prefer_node: "a", prefer_zone: "us" }), nodes, opts()).node?.id).toBe("a");
    // A preferred node that is full is passed over, not waited for.
    expect(
      place(
        c({ prefer_node: "a" }),
        [{ ...nodes[0], inflight: 2 } as (typeof nodes)[0], nodes[1] as (typeof nodes)[0]],
        opts(),
      ).node?.id,
    ).toBe("b");
  });

  it("passes over a node that lost this task when another fits, but uses it when it is the only one", () => {
    const o = { ...opts(), avoid: new Set(["a"]) };
    expect(place(spec(), [node("a"), node("b", { inflight: 1 })], o).node?.id).toBe("b");
    expect(place(spec(), [node("a")], o).node?.id).toBe("a");
  });

  it("least-loaded picks the node with the most free share", () => {
    const p = place(spec(), [node("a", { inflight: 1 }), node("b", { capacity: 4, inflight: 1 })], opts());
    expect(p.node?.id).toBe("b");
  });

  it("round-robin rotates over the nodes that fit", () => {
    const o = opts("round-robin");
    const nodes = [node("a"), node("b"), node("c")];
    expect([1, 2, 3, 4].map(() => place(spec(), nodes, o).node?.id)).toEqual(["a", "b", "c", "a"]);
  });

  it("hash sends one affinity key to one node while it lives, and waits for it when full", () => {
    const nodes = [node("a"), node("b"), node("c")];
    const s = spec({ strategy: "hash", affinity_key: "customer-42" });
    const home = place(s, nodes, opts()).node?.id;
    for (let i = 0; i < 5; i++) expect(place(s, nodes, opts()).node?.id).toBe(home);
    const full = nodes.map((n) => (n.id === home ? { ...n, inflight: 2 } : n));
    expect(place(s, full, opts()).reason).toContain(`affinity node ${home} is full`);
    // Keys spread over the nodes.
    const homes = new Set(Array.from({ length: 60 }, (_, i) => rendezvous(`k${i}`, nodes)?.id));
    expect(homes.size).toBe(3);
  });

  it("adaptive prefers the node that has been succeeding and fast", () => {
    const p = place(
      spec(),
      [node("flaky", { successRate: 0.2, latencyMs: 100 }), node("good", { successRate: 1, latencyMs: 100 })],
      opts("adaptive"),
    );
    expect(p.node?.id).toBe("good");
    const q = place(
      spec(),
      [node("slow", { latencyMs: 5000 }), node("fast", { latencyMs: 50 })],
      opts("adaptive"),
    );
    expect(q.node?.id).toBe("fast");
  });
});

describe("backoff", () => {
  const policy = {
    max_attempts: 5,
    backoff: "exponential" as const,
    initial_backoff_ms: 1000,
    max_backoff_ms: 5000,
    jitter: 0,
  };

  it("grows exponentially up to the cap", () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffMs(policy, a))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it("stays fixed when asked", () => {
    expect([1, 2, 3].map((a) => backoffMs({ ...policy, backoff: "fixed" }, a))).toEqual([1000, 1000, 1000]);
  });

  it("spreads by the jitter, within bounds", () => {
    const j = { ...policy, jitter: 0.5 };
    expect(backoffMs(j, 1, () => 0)).toBe(500);
    expect(backoffMs(j, 1, () => 1)).toBe(1500);
    expect(backoffMs(j, 4, () => 1)).toBe(5000); // never past the cap
  });
});
