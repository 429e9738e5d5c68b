import type { Cluster } from "@openclaw/bus";
import { createLogger } from "@openclaw/log";
import { describe, expect, it } from "vitest";
import { createContext } from "../src/context.js";

/** A checkpoints bucket where every read takes `ms`, counting the writes that land. */
function slowCluster(ms: number) {
  const written: unknown[] = [];
  const sleep = () => new Promise((r) => setTimeout(r, ms));
  const cluster = {
    kv: {
      checkpoints: {
        get: async () => {
          await sleep();
          return null;
        },
        create: async (_key: string, value: Uint8Array) => {
          written.push(JSON.parse(new TextDecoder().decode(value)));
          return written.length;
        },
      },
    },
    js: { publish: async () => ({}) },
    names: { subjects: { taskEvent: (id: string, kind: string) => `t.evt.task.${id}.${kind}` } },
  } as unknown as Cluster;
  return { cluster, written };
}

function context(cluster: Cluster) {
  return createContext({
    cluster,
    sender: { service: "worker", instance: "test" },
    nodeId: "w1",
    taskId: "t1",
    attempt: 1,
    payload: null,
    signal: new AbortController().signal,
    lastCheckpoint: undefined,
    log: createLogger({ service: "worker", instance: "test", level: "silent" }),
    allowedCommands: [],
  });
}

describe("checkpoint writes of an attempt", () => {
  it("skips the writes still queued when the attempt closes", async () => {
    const { cluster, written } = slowCluster(20);
    const a = context(cluster);
    const all = Array.from({ length: 100 }, (_, i) => a.ctx.checkpoint({ i }));
    await new Promise((r) => setTimeout(r, 50));
    a.close();
    const at = written.length;
    await Promise.all(all);
    // At most the write in flight when it closed lands afterwards.
    expect(written.length).toBeLessThanOrEqual(at + 1);
    expect(written.length).toBeLessThan(10);
  });

  it("settled() gives up after its deadline, and the rest is dropped", async () => {
    const { cluster, written } = slowCluster(10);
    const a = context(cluster);
    for (let i = 0; i < 1000; i++) void a.ctx.checkpoint({ i });
    const began = performance.now();
    expect(await a.settled(200)).toBe(false);
    expect(performance.now() - began).toBeLessThan(5000); // draining all 1,000 would take 10 s
    const at = written.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(written.length).toBeLessThanOrEqual(at + 1);
    await expect(a.ctx.checkpoint({ late: true })).resolves.toBeUndefined();
  });

  it("settled() resolves true once every write has landed", async () => {
    const { cluster, written } = slowCluster(1);
    const a = context(cluster);
    for (let i = 0; i < 5; i++) void a.ctx.checkpoint({ i });
    expect(await a.settled()).toBe(true);
    expect(written).toHaveLength(5);
  });
});
