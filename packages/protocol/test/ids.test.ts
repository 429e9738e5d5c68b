import { describe, expect, it } from "vitest";
import {
  isToken,
  NodeId,
  names,
  nodeIdProblem,
  OcError,
  RESERVED_NODE_IDS,
  tokenProblem,
} from "../src/index.js";

describe("subject tokens", () => {
  it.each(["worker-001", "mac_worker_1", "A", "x".repeat(64)])("accepts %s", (id) => {
    expect(isToken(id)).toBe(true);
    expect(NodeId.safeParse(id).success).toBe(true);
  });

  it.each([
    ["a.b", "'.'"],
    ["*", "'*'"],
    [">", "'>'"],
    ["has space", "whitespace"],
    ["tab\there", "whitespace"],
    ["", "empty"],
    ["x".repeat(65), "at most 64"],
    ["ünïcode", "'ü'"],
  ])("refuses %j and says why", (id, why) => {
    expect(isToken(id)).toBe(false);
    expect(tokenProblem(id)).toContain(why);
    const parsed = NodeId.safeParse(id);
    expect(parsed.success).toBe(false);
  });
});

describe("node ids", () => {
  // Hardening item 11: node ids 'online' and 'skills' were accepted, but GET /api/v1/nodes/online
  // and /api/v1/nodes/skills/:skill answer for those paths, so such a node could not be read by id.
  it.each(["online", "skills", "ONLINE"])("refuses the reserved id %j and says why", (id) => {
    expect(isToken(id)).toBe(true);
    const problem = nodeIdProblem(id);
    expect(problem).toMatch(/^is reserved: \/api\/v1\/nodes\/(online|skills) is an API route/);
    expect(problem).toContain(`reserved node ids: ${RESERVED_NODE_IDS.join(", ")}`);
    const parsed = NodeId.safeParse(id);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(problem);
  });

  it("accepts ids that only contain a reserved word", () => {
    for (const id of ["online-1", "skills_box", "node-online"])
      expect(NodeId.safeParse(id).success).toBe(true);
    expect(nodeIdProblem("a.b")).toBe(tokenProblem("a.b"));
  });
});

describe("names", () => {
  const n = names("oc");

  it("builds node and event subjects from valid tokens", () => {
    expect(n.subjects.nodeMessage("w1", "heartbeat")).toBe("oc.node.w1.heartbeat");
    expect(n.subjects.nodeEvent("w1", "offline")).toBe("oc.evt.node.w1.offline");
    expect(n.subjects.nodeCommand("w1", "reregister")).toBe("oc.node.w1.cmd.reregister");
    expect(n.subjects.elect("health-monitor")).toBe("oc.ctl.elect.health-monitor");
    expect(n.streams.nodes).toBe("OC_NODES");
    expect(n.buckets.nodeHealth).toBe("oc_node_health");
  });

  it("never builds a subject from an id that would change its meaning", () => {
    for (const bad of ["a.b", "*", ">", "a b"]) {
      expect(() => n.subjects.nodeMessage(bad, "register")).toThrow(OcError);
      expect(() => n.subjects.elect(bad)).toThrow(OcError);
    }
    try {
      n.subjects.nodeEvent("x.>", "joined");
    } catch (err) {
      expect((err as OcError).code).toBe("OC-4001");
    }
  });

  it("parses node subjects and rejects others", () => {
    expect(n.parseNodeSubject("oc.node.w1.register")).toEqual({ nodeId: "w1", kind: "register" });
    expect(n.parseNodeSubject("oc.node.w1.cmd.reregister")).toBeUndefined();
    expect(n.parseNodeSubject("other.node.w1.register")).toBeUndefined();
    expect(n.parseEventSubject("oc.evt.node.w1.left")).toEqual({ scope: "node", id: "w1", kind: "left" });
  });

  it("refuses a prefix that is not a token", () => {
    expect(() => names("a.b")).toThrow(/subject prefix/);
  });
});
