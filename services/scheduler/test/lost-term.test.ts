import { createLogger } from "@openclaw/log";
import { type NatsServer, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderState } from "../src/leader.js";
import { NodeTable } from "../src/node-table.js";
import { context } from "./harness.js";

/**
 * A lease can be lost while its takeover still runs, and then no loss is announced: the state
 * built for that term must not run, and one already running must stop itself at its next tick.
 */
let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("a scheduler term that is over", () => {
  it("does not start when its term went during the takeover, and stops itself when it goes later", async () => {
    const ctx = await context(server);
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      service: "scheduler",
      instance: "test",
      level: "warn",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const scoped = { ...ctx, log };
    const nodes = new NodeTable(scoped, () => undefined);
    await nodes.ready;
    // A leader renews the inbox consumer first thing: its creation time tells whether one ran.
    const created = async () =>
      (await ctx.cluster.jsm.consumers.info(ctx.cluster.names.streams.sched, "scheduler").catch(() => null))
        ?.created;
    const before = await created();

    const never = new LeaderState(scoped, nodes, () => false);
    await never.rebuild();
    expect(never.run()).toBe(false);
    expect(await created()).toBe(before);

    let leading = true;
    const later = new LeaderState(scoped, nodes, () => leading);
    await later.rebuild();
    expect(later.run()).toBe(true);
    await waitFor(async () => (await created()) !== before);
    leading = false;
    await waitFor(() => lines.some((l) => l.message === "this scheduler's term is over; stopping its work"));
    await later.stop();
    await nodes.stop();
    await ctx.close();
  });
});
