import { type Logger, silentLogger } from "@openclaw/log";
import { names, OcError } from "@openclaw/protocol";
import { type NatsCluster, startNatsCluster, startNatsServer, uniquePrefix } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus, type NatsConnection, provisionCluster } from "../src/index.js";

/** Streams and buckets a provisioned cluster has, by their stream names. */
function allStreams(n: ReturnType<typeof names>): string[] {
  return [...Object.values(n.streams), ...Object.values(n.buckets).map((b) => `KV_${b}`)];
}

/** A logger that keeps warnings, to see what provisioning said. */
function recordingLogger(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = silentLogger();
  log.warn = ((...args: unknown[]) => {
    warnings.push(String(args.find((a) => typeof a === "string")));
  }) as Logger["warn"];
  return { log, warnings };
}

const opts = { eventsMaxAgeMs: 60_000, leaseTtlMs: 2000 };

describe("cluster.replicas on a single nats-server", () => {
  it("refuses more than one copy with a clear OC-1001", async () => {
    const server = await startNatsServer();
    const nc = await connectBus({ url: server.url, name: "t", connectTimeoutMs: 5000, log: silentLogger() });
    try {
      const err = await provisionCluster(nc, names(uniquePrefix()), { ...opts, replicas: 3 }).catch((e) => e);
      expect(err).toBeInstanceOf(OcError);
      expect((err as OcError).code).toBe("OC-1001");
      expect((err as OcError).message).toMatch(/cluster\.replicas is 3.*not part of a NATS cluster/);
      // One copy is what a single server keeps anyway.
      const c = await provisionCluster(nc, names(uniquePrefix()), { ...opts, replicas: 1 });
      expect((await c.jsm.streams.info(c.names.streams.sched)).config.num_replicas).toBe(1);
    } finally {
      await nc.close();
      await server.stop();
    }
  });
});

describe("cluster.replicas on a three-node NATS cluster", () => {
  let nats: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsCluster({ size: 3 });
    nc = await connectBus({ url: nats.url, name: "t", connectTimeoutMs: 5000, log: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await nats?.stopAll();
  });

  it("creates every stream and bucket with that many copies; existing ones are brought to it", async () => {
    const n = names(uniquePrefix());
    const c = await provisionCluster(nc, n, { ...opts, replicas: 3 });
    for (const s of allStreams(n)) expect((await c.jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    // Consumers follow their stream.
    const consumer = await c.jsm.consumers.info(n.streams.sched, n.consumers.scheduler);
    expect(consumer.cluster?.replicas).toHaveLength(2);

    // Made with one copy (as before this setting), then provisioned with three: scaled up in place.
    const m = names(uniquePrefix());
    await provisionCluster(nc, m, { ...opts, replicas: 1 });
    for (const s of allStreams(m)) expect((await c.jsm.streams.info(s)).config.num_replicas, s).toBe(1);
    await provisionCluster(nc, m, { ...opts, replicas: 3 });
    for (const s of allStreams(m)) expect((await c.jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    // Replicated buckets are read through their leader: a direct get could be answered by a
    // lagging copy, and a reader would miss a write it was just told about.
    for (const b of Object.values(n.buckets)) {
      expect((await c.jsm.streams.info(`KV_${b}`)).config.allow_direct, b).toBe(false);
    }
    for (const b of Object.values(m.buckets)) {
      expect((await c.jsm.streams.info(`KV_${b}`)).config.allow_direct, b).toBe(false);
    }
  }, 120_000);

  it("an existing stream whose count NATS cannot reach keeps its own, with a warning, not a failure", async () => {
    const n = names(uniquePrefix());
    const c = await provisionCluster(nc, n, { ...opts, replicas: 3 });
    const { log, warnings } = recordingLogger();
    // Five copies on three servers: NATS refuses; provisioning goes on with three.
    await provisionCluster(nc, n, { ...opts, replicas: 5, log });
    for (const s of allStreams(n)) expect((await c.jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    expect(warnings.filter((w) => /keeps 3 replica\(s\)/.test(w))).toHaveLength(allStreams(n).length);
  }, 120_000);

  it("a publish waits through the election when the node leading its stream dies", async () => {
    const n = names(uniquePrefix());
    const c = await provisionCluster(nc, n, { ...opts, replicas: 3 });
    const leader = (await c.jsm.streams.info(n.streams.sched)).cluster?.leader;
    const victim = nats.nodes.findIndex((x) => x.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    await nats.stop(victim);
    try {
      // Without a leader nobody answers for the stream for several seconds: the publish rides it out.
      const ack = await c.js.publish(n.subjects.schedCancel, new TextEncoder().encode("{}"), { msgID: "m1" });
      expect(ack.stream).toBe(n.streams.sched);
      expect((await c.jsm.streams.info(n.streams.sched)).cluster?.leader).not.toBe(leader);
    } finally {
      await nats.restart(victim);
    }
  }, 120_000);
});
