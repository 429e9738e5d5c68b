import { encode, type ServiceContext } from "@openclaw/bus";
import type { NodeHealthRecord } from "@openclaw/protocol";
import { type NatsServer, nodeDescriptor, nodeRecord, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeTable } from "../src/node-table.js";
import { context } from "./harness.js";

let server: NatsServer;
let ctx: ServiceContext;

beforeAll(async () => {
  server = await startNatsServer();
  ctx = await context(server);
});

afterAll(async () => {
  await ctx?.close();
  await server?.stop();
});

function health(nodeId: string, status: NodeHealthRecord["status"]): NodeHealthRecord {
  const now = new Date().toISOString();
  return {
    node_id: nodeId,
    session: `s-${nodeId}`,
    status,
    reason: status === "offline" ? "unreachable" : "heartbeats",
    since: now,
    last_seen: now,
    missed_heartbeats: status === "offline" ? 3 : 0,
    consecutive_heartbeats: 0,
    checked_at: now,
  };
}

describe("the scheduler's node table", () => {
  // Reproduction: after a start or failover, a SIGKILLed worker's `offline` health record could be
  // replayed before the node's own record; it was dropped, the node read as healthy, and it was
  // given about half of all new tasks, each stuck `scheduled` for dispatch_timeout.
  it("keeps a health record that arrives before its node's record, and applies it when the node does", async () => {
    const { kv } = ctx.cluster;
    await kv.nodeHealth.put("dead", encode(health("dead", "offline")));
    const table = new NodeTable(ctx, () => undefined);
    try {
      await table.ready;
      await kv.nodes.put("dead", encode(nodeRecord(nodeDescriptor("dead"))));
      await kv.nodes.put("alive", encode(nodeRecord(nodeDescriptor("alive"))));
      const views = await waitFor(() => {
        const v = table.views(new Map());
        return v.length === 2 ? v : undefined;
      });
      expect(Object.fromEntries(views.map((v) => [v.id, v.unusable]))).toEqual({
        dead: "offline",
        alive: null,
      });
      expect(table.gone("dead")).toBe("went offline");
    } finally {
      await table.stop();
    }
  });
});
