import { AckPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { silentLogger } from "@openclaw/log";
import { NodeHeartbeat, names, OcError } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  connectBus,
  decode,
  encode,
  ensureDurable,
  LeaderLease,
  MAX_DELIVER,
  type NatsConnection,
  provisionCluster,
  readAll,
  watchBucket,
} from "../src/index.js";

let server: NatsServer;
let nc: NatsConnection;
const log = silentLogger();

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectBus({ url: server.url, name: "test", connectTimeoutMs: 5000, log });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("codec", () => {
  it("never throws on hostile bytes and names the bad fields", () => {
    expect(decode(NodeHeartbeat, new Uint8Array([0xff, 0x00]))).toMatchObject({
      ok: false,
      error: expect.stringContaining("not JSON"),
    });
    const bad = decode(NodeHeartbeat, encode({ v: 1, node_id: "a.b" }));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toContain("node_id");
  });
});

describe("codec: encode", () => {
  // Reproduction: a payload nested 10,000 deep made JSON.stringify throw a RangeError that a
  // consumer took for a passing fault and retried on every delivery.
  it("throws OC-2002 (bad input) for a value JSON cannot hold", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(() => encode(deep)).toThrow(expect.objectContaining({ code: "OC-2002" }));
    expect(() => encode({ n: 1n })).toThrow(OcError);
  });
});

describe("connectBus", () => {
  it("fails with OC-2001 after the connect timeout when nothing listens", async () => {
    const err = await connectBus({ url: "nats://127.0.0.1:1", name: "x", connectTimeoutMs: 300, log }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(OcError);
    expect((err as OcError).code).toBe("OC-2001");
    expect((err as OcError).message).toContain("nats://127.0.0.1:1");
  });
});

describe("provisionCluster", () => {
  it("creates streams, consumer and buckets, and is idempotent when raced", async () => {
    const n = names(uniquePrefix());
    const opts = { eventsMaxAgeMs: 60_000, leaseTtlMs: 2000 };
    const results = await Promise.all([
      provisionCluster(nc, n, opts),
      provisionCluster(nc, n, opts),
      provisionCluster(nc, n, opts),
    ]);
    const c = results[0];
    expect((await c.jsm.streams.info(n.streams.nodes)).config.subjects).toEqual(n.subjects.nodeMessagesAll);
    expect((await c.jsm.streams.info(n.streams.events)).config.max_age).toBe(60_000 * 1_000_000);
    expect((await c.jsm.consumers.info(n.streams.nodes, n.consumers.registry)).config.durable_name).toBe(
      "registry",
    );
    expect((await c.kv.leases.status()).ttl).toBe(2000);
    // A later provision with a new events max age updates the stream in place.
    await provisionCluster(nc, n, { ...opts, eventsMaxAgeMs: 120_000 });
    expect((await c.jsm.streams.info(n.streams.events)).config.max_age).toBe(120_000 * 1_000_000);
  });
});

describe("durable consumers", () => {
  // Reproduction: the scheduler's inbox consumer had max_deliver -1, so a message its handler
  // failed on every time was delivered again forever.
  it("deliver a message at most MAX_DELIVER times, and an existing consumer without a limit is given it", async () => {
    const n = names(uniquePrefix());
    const cluster = await provisionCluster(nc, n, { eventsMaxAgeMs: 60_000, leaseTtlMs: 5000 });
    const { jsm } = cluster;
    const sched = await jsm.consumers.info(n.streams.sched, n.consumers.scheduler);
    expect(sched.config.max_deliver).toBe(MAX_DELIVER);
    await jsm.consumers.add(n.streams.dispatch, {
      durable_name: "node-old",
      ack_policy: AckPolicy.Explicit,
      filter_subject: n.subjects.dispatch("old"),
    });
    expect((await jsm.consumers.info(n.streams.dispatch, "node-old")).config.max_deliver).toBe(-1);
    await ensureDurable(jsm, n.streams.dispatch, "node-old", n.subjects.dispatch("old"));
    expect((await jsm.consumers.info(n.streams.dispatch, "node-old")).config.max_deliver).toBe(MAX_DELIVER);
    const dead = await jsm.streams.info(n.streams.deadLetters);
    expect(dead.config.subjects).toEqual([n.subjects.deadLettersAll]);
    expect(dead.config.max_msgs).toBeGreaterThan(0);
  });
});

describe("LeaderLease", () => {
  it("elects exactly one leader; a clean stop hands over at once; a crashed leader's lease lapses after the TTL", async () => {
    const n = names(uniquePrefix());
    await provisionCluster(nc, n, { eventsMaxAgeMs: 60_000, leaseTtlMs: 1500 });
    const elected: string[] = [];
    const conns: NatsConnection[] = [];
    // Each candidate has its own connection, as separate processes would.
    const make = async (holder: string) => {
      const own = await connectBus({ url: server.url, name: holder, connectTimeoutMs: 5000, log });
      conns.push(own);
      const kv = await new Kvm(own).open(n.buckets.leases);
      const lease = new LeaderLease({
        kv,
        role: "scheduler",
        holder,
        ttlMs: 1500,
        renewMs: 200,
        log,
        onElected: () => {
          elected.push(holder);
        },
      });
      return { lease, conn: own };
    };
    const a = await make("a");
    const b = await make("b");
    const c = await make("c");
    a.lease.start();
    await waitFor(() => a.lease.isLeader());
    b.lease.start();
    c.lease.start();
    // Over several renew intervals, the leader holds and nobody else is elected.
    const until = Date.now() + 1000;
    await waitFor(() => Date.now() > until && [a, b, c].filter((x) => x.lease.isLeader()).length === 1, {
      timeout: 3000,
    });
    expect(elected).toEqual(["a"]);
    const firstTerm = a.lease.term;

    await a.lease.stop();
    const handedOver = Date.now();
    await waitFor(() => b.lease.isLeader() || c.lease.isLeader(), { timeout: 3000 });
    expect(Date.now() - handedOver).toBeLessThan(1000);
    expect(elected).toHaveLength(2);
    const next = b.lease.isLeader() ? b : c;
    const other = next === b ? c : b;
    expect(next.lease.term).toBeGreaterThan(firstTerm);

    // The new leader's process dies: its connection closes without releasing the lease.
    await next.conn.close();
    const diedAt = Date.now();
    await waitFor(() => other.lease.isLeader(), { timeout: 5000 });
    expect(Date.now() - diedAt).toBeGreaterThanOrEqual(1000);
    expect(next.lease.isLeader()).toBe(false);
    expect(elected).toHaveLength(3);

    for (const x of [a, b, c]) await x.lease.stop();
    for (const conn of conns) await conn.close();
  });

  it("gives the lease up when taking over fails, so another instance leads instead of nobody", async () => {
    const n = names(uniquePrefix());
    const cluster = await provisionCluster(nc, n, { eventsMaxAgeMs: 60_000, leaseTtlMs: 1500 });
    let failures = 0;
    const flaky = new LeaderLease({
      kv: cluster.kv.leases,
      role: "r",
      holder: "flaky",
      ttlMs: 1500,
      renewMs: 200,
      log,
      onElected: () => {
        failures += 1;
        throw new Error("state rebuild failed");
      },
    });
    flaky.start();
    await waitFor(() => failures > 0);
    const steady = new LeaderLease({
      kv: cluster.kv.leases,
      role: "r",
      holder: "steady",
      ttlMs: 1500,
      renewMs: 200,
      log,
    });
    steady.start();
    // Well before the TTL: the failed instance released the key instead of renewing it forever.
    await waitFor(() => steady.isLeader() || flaky.isLeader(), { timeout: 1200 });
    expect(flaky.isLeader()).toBe(false);
    await flaky.stop();
    await waitFor(() => steady.isLeader(), { timeout: 3000 });
    await steady.stop();
  });

  it("never counts on a longer lease than the bucket keeps, and provisioning brings the bucket to the configured TTL", async () => {
    const n = names(uniquePrefix());
    const cluster = await provisionCluster(nc, n, { eventsMaxAgeMs: 60_000, leaseTtlMs: 1500 });
    // Configured for 10 s, but the bucket expires keys after 1.5 s: the lease must use 1.5 s.
    const a = new LeaderLease({
      kv: cluster.kv.leases,
      role: "r",
      holder: "a",
      ttlMs: 10_000,
      renewMs: 1000,
      log,
    });
    a.start();
    await waitFor(() => a.isLeader());
    const b = new LeaderLease({
      kv: cluster.kv.leases,
      role: "r",
      holder: "b",
      ttlMs: 10_000,
      renewMs: 200,
      log,
    });
    b.start();
    const until = Date.now() + 4000;
    let both = 0;
    await waitFor(
      () => {
        if (a.isLeader() && b.isLeader()) both += 1;
        return Date.now() > until;
      },
      { timeout: 6000, interval: 10 },
    );
    expect(both).toBe(0);
    await a.stop();
    await b.stop();

    await provisionCluster(nc, n, { eventsMaxAgeMs: 60_000, leaseTtlMs: 4000 });
    expect((await cluster.kv.leases.status()).ttl).toBe(4000);
  });
});

describe("readAll", () => {
  it("ends while others keep writing, with every key not written meanwhile, once each", async () => {
    const cluster = await provisionCluster(nc, names(uniquePrefix()), {
      eventsMaxAgeMs: 60_000,
      leaseTtlMs: 2000,
    });
    const kv = cluster.kv.tasks;
    const Value = z.object({ n: z.number() });
    for (let i = 0; i < 200; i++) await kv.put(`k${i}`, encode({ n: i }));
    let writing = true;
    // Ten hot keys written as fast as the server takes them.
    const writer = (async () => {
      for (let n = 1; writing; n++) await kv.put(`k${n % 10}`, encode({ n }));
    })();
    try {
      for (let round = 0; round < 5; round++) {
        const all = await readAll(kv, Value, log);
        const keys = all.map((e) => e.key);
        expect(new Set(keys).size).toBe(keys.length);
        for (let i = 10; i < 200; i++) expect(all.find((e) => e.key === `k${i}`)?.value).toEqual({ n: i });
      }
    } finally {
      writing = false;
      await writer;
    }
    const quiet = await readAll(kv, Value, log);
    expect(quiet).toHaveLength(200);
  });
});

describe("watchBucket", () => {
  it("starts a watch again when its replay stalls, and then delivers the bucket's values", async () => {
    const kv = await new Kvm(nc).create(`stall_${uniquePrefix()}`);
    await kv.put("a", encode({ id: "a" }));
    // The first watch never yields anything (as a consumer the server was slow to set up).
    let watches = 0;
    const stalling = new Proxy(kv, {
      get(target, prop) {
        if (prop !== "watch") {
          const v = Reflect.get(target, prop);
          return typeof v === "function" ? v.bind(target) : v;
        }
        return async (opts: Parameters<typeof kv.watch>[0]) => {
          watches += 1;
          if (watches > 1) return target.watch(opts);
          let stop: () => void = () => undefined;
          const ended = new Promise<void>((resolve) => {
            stop = resolve;
          });
          return {
            stop,
            [Symbol.asyncIterator]: () => ({
              next: () => ended.then(() => ({ done: true as const, value: undefined })),
            }),
          };
        };
      },
    });
    const seen: string[] = [];
    const watch = watchBucket({
      kv: stalling,
      bucket: "stall",
      schema: z.object({ id: z.string() }),
      keyOf: (v) => v.id,
      onValue: (v) => seen.push(v.id),
      log,
      retryMs: 50,
      replayTimeoutMs: 300,
    });
    await watch.ready;
    expect(watches).toBe(2);
    expect(seen).toEqual(["a"]);
    await watch.stop();
  });
});

describe("request settling (nats.js patch)", () => {
  it("is in place, and requests still resolve, time out and find no responders as before", async () => {
    const { patchRequestSettle } = await import("../src/request-patch.js");
    expect(patchRequestSettle()).toBe(true);
    const sub = nc.subscribe("patch.echo", {
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
    const reply = await nc.request("patch.echo", encode({ a: 1 }), { timeout: 2000 });
    expect(decode(z.object({ a: z.number() }), reply.data)).toEqual({ ok: true, value: { a: 1 } });
    // Many at once, each with its own answer.
    const many = await Promise.all(
      Array.from({ length: 200 }, (_, i) => nc.request("patch.echo", encode({ a: i }), { timeout: 2000 })),
    );
    expect(many.map((m) => JSON.parse(new TextDecoder().decode(m.data)).a)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
    const silent = nc.subscribe("patch.silent", { callback: () => undefined });
    const late = await nc.request("patch.silent", encode({}), { timeout: 200 }).catch((e: Error) => e);
    expect((late as Error).name).toBe("TimeoutError");
    const nobody = await nc.request("patch.nobody", encode({}), { timeout: 2000 }).catch((e: Error) => e);
    expect(nobody).toBeInstanceOf(Error);
    expect(String((nobody as Error).message)).toMatch(/no responders/i);
    sub.unsubscribe();
    silent.unsubscribe();
  });
});
