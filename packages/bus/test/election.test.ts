import { ConfigSchema } from "@openclaw/config";
import { silentLogger } from "@openclaw/log";
import { type ElectRequest, envelope, names } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectBus,
  encode,
  LeaderLease,
  type NatsConnection,
  provisionCluster,
  readLeaders,
  requestElection,
  type ServiceContext,
  serveElection,
  startServiceContext,
} from "../src/index.js";

let server: NatsServer;
let nc: NatsConnection;
const log = silentLogger();
const TTL = 1500;
const RENEW = 200;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectBus({ url: server.url, name: "test", connectTimeoutMs: 5000, log });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("LeaderLease.resign", () => {
  it("hands the lease to a standby, and the resigned leader stays out for its hold-off", async () => {
    const cluster = await provisionCluster(nc, names(uniquePrefix()), {
      eventsMaxAgeMs: 60_000,
      leaseTtlMs: TTL,
    });
    const elected: string[] = [];
    const make = (holder: string) =>
      new LeaderLease({
        kv: cluster.kv.leases,
        role: "scheduler",
        holder,
        ttlMs: TTL,
        renewMs: RENEW,
        log,
        onElected: () => {
          elected.push(holder);
        },
      });
    const a = make("a");
    const b = make("b");
    a.start();
    await waitFor(() => a.isLeader());
    b.start();
    const firstTerm = a.term;

    const resigned = Date.now();
    await a.resign("test", TTL);
    expect(a.isLeader()).toBe(false);
    // Well before the TTL could have lapsed: a released the key, and b took it.
    await waitFor(() => b.isLeader(), { timeout: 3000 });
    expect(Date.now() - resigned).toBeLessThan(TTL);
    expect(b.term).toBeGreaterThan(firstTerm);
    expect(elected).toEqual(["a", "b"]);

    // After a's hold-off, b still leads: a only stands by again.
    const until = Date.now() + TTL + 4 * RENEW;
    await waitFor(() => Date.now() > until, { timeout: until - Date.now() + 1000 });
    expect(b.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    await a.stop();
    await b.stop();
  });

  it("a lone leader that resigns takes the lease back after its hold-off, in a higher term", async () => {
    const cluster = await provisionCluster(nc, names(uniquePrefix()), {
      eventsMaxAgeMs: 60_000,
      leaseTtlMs: TTL,
    });
    const terms: number[] = [];
    const lone = new LeaderLease({
      kv: cluster.kv.leases,
      role: "health-monitor",
      holder: "lone",
      ttlMs: TTL,
      renewMs: RENEW,
      log,
      onElected: (term) => {
        terms.push(term);
      },
    });
    lone.start();
    await waitFor(() => lone.isLeader());
    const firstTerm = lone.term;

    const holdOff = 1000;
    await lone.resign("test", holdOff);
    const resigned = Date.now();
    expect(lone.isLeader()).toBe(false);
    // Nobody leads meanwhile: the key is gone.
    expect((await readLeaders(cluster, ["health-monitor"])).leaders["health-monitor"]).toBeNull();
    await waitFor(() => lone.isLeader(), { timeout: holdOff + 5000 });
    expect(Date.now() - resigned).toBeGreaterThanOrEqual(holdOff - 50);
    expect(lone.term).toBeGreaterThan(firstTerm);
    expect(terms).toEqual([firstTerm, lone.term]);
    await lone.stop();
  });
});

describe("serveElection, requestElection and readLeaders", () => {
  const contexts: ServiceContext[] = [];
  afterAll(async () => {
    for (const ctx of contexts) await ctx.close();
  });

  async function instance(prefix: string, id: string) {
    const config = ConfigSchema.parse({
      cluster: { subject_prefix: prefix, election_timeout: `${TTL}ms`, lease_renew_interval: `${RENEW}ms` },
      communication: { nats_url: server.url },
    });
    const ctx = await startServiceContext({ config, service: "scheduler", instance: id, log });
    contexts.push(ctx);
    const lease = new LeaderLease({
      kv: ctx.cluster.kv.leases,
      role: "scheduler",
      holder: id,
      ttlMs: TTL,
      renewMs: RENEW,
      log,
    });
    const responder = serveElection(ctx, lease);
    return { ctx, lease, responder };
  }

  it("only the leader answers; it steps down and the standby leads in a higher term", async () => {
    const prefix = uniquePrefix();
    const client = await provisionCluster(nc, names(prefix), { eventsMaxAgeMs: 60_000, leaseTtlMs: TTL });
    const cli = { service: "cli", instance: "test-cli" };

    // Nothing listens yet: no instance.
    const none = await requestElection(client, cli, "scheduler", { timeoutMs: 2000 });
    expect(none).toMatchObject({ ok: false, reason: "no_instance" });

    const a = await instance(prefix, "sched-a");
    const b = await instance(prefix, "sched-b");
    // Both listen, nobody leads: no answer within the timeout.
    const silent = await requestElection(client, cli, "scheduler", { timeoutMs: 500 });
    expect(silent).toMatchObject({ ok: false, reason: "no_leader" });

    a.lease.start();
    await waitFor(() => a.lease.isLeader());
    b.lease.start();
    const firstTerm = a.lease.term;
    const before = await readLeaders(client);
    expect(before.ttlMs).toBe(TTL);
    expect(before.leaders["health-monitor"]).toBeNull();
    const led = before.leaders.scheduler;
    expect(led).toMatchObject({ role: "scheduler", holder: "sched-a", term: firstTerm });
    const expiresIn = Date.parse(led?.expires_at ?? "") - Date.now();
    expect(expiresIn).toBeGreaterThan(0);
    expect(expiresIn).toBeLessThanOrEqual(TTL + 1000);

    // An invalid request changes nothing and gets no answer.
    const bad = await client.nc
      .request(client.names.subjects.elect("scheduler"), encode({ role: "scheduler" }), { timeout: 500 })
      .then(() => "answered")
      .catch(() => "no answer");
    expect(bad).toBe("no answer");
    expect(a.lease.isLeader()).toBe(true);

    // A leader steps down on request only once it has led one election timeout.
    await waitFor(() => a.lease.ledForMs() >= TTL, { timeout: TTL + 5000 });
    const out = await requestElection(client, cli, "scheduler", { timeoutMs: 3000, reason: "test" });
    expect(out).toMatchObject({
      ok: true,
      reply: { role: "scheduler", holder: "sched-a", term: firstTerm, stepped_down: true, hold_off_ms: TTL },
    });
    await waitFor(() => b.lease.isLeader(), { timeout: 5000 });
    expect(a.lease.isLeader()).toBe(false);
    expect(b.lease.term).toBeGreaterThan(firstTerm);
    const after = await waitFor(
      async () => {
        const l = (await readLeaders(client)).leaders.scheduler;
        return l?.holder === "sched-b" ? l : undefined;
      },
      { timeout: 3000 },
    );
    expect(after.term).toBe(b.lease.term);

    // The request names its role in the body too; one for another role on this subject is ignored.
    const wrong: ElectRequest = { ...envelope(cli), role: "health-monitor" };
    const ignored = await client.nc
      .request(client.names.subjects.elect("scheduler"), encode(wrong), { timeout: 500 })
      .then(() => "answered")
      .catch(() => "no answer");
    expect(ignored).toBe("no answer");
    expect(b.lease.isLeader()).toBe(true);

    a.responder.stop();
    b.responder.stop();
    await a.lease.stop();
    await b.lease.stop();
  });

  // Hardening item 8: elections could be forced without limit; repeated `oclaw elect` kept the only
  // scheduler out ~85% of the time (out for each hold-off, asked again as soon as it was back).
  it("a leader refuses to step down within one election timeout of its election, saying when it will", async () => {
    const prefix = uniquePrefix();
    const client = await provisionCluster(nc, names(prefix), { eventsMaxAgeMs: 60_000, leaseTtlMs: TTL });
    const cli = { service: "cli", instance: "test-cli" };
    const lone = await instance(prefix, "sched-lone");
    lone.lease.start();
    await waitFor(() => lone.lease.isLeader());
    const term = lone.lease.term;

    const refused = await requestElection(client, cli, "scheduler", { timeoutMs: 3000 });
    expect(refused).toMatchObject({ ok: false, reason: "too_soon", role: "scheduler" });
    if (refused.ok || refused.reason !== "too_soon") throw new Error("not refused");
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(TTL);
    expect(refused.message).toMatch(
      /^the scheduler leader sched-lone was elected \d+\.\ds ago \(term \d+\); a new election is refused within one election timeout \(1\.5s\) of the last: try again in \d+\.\ds$/,
    );
    expect(lone.lease.isLeader()).toBe(true);
    expect(lone.lease.term).toBe(term);

    // Once it has led one election timeout it steps down; back after its hold-off, it refuses again.
    await waitFor(() => lone.lease.ledForMs() >= TTL, { timeout: TTL + 5000 });
    const out = await requestElection(client, cli, "scheduler", { timeoutMs: 3000 });
    expect(out).toMatchObject({ ok: true, reply: { holder: "sched-lone", term, stepped_down: true } });
    await waitFor(() => lone.lease.term > term, { timeout: TTL + 5000 });
    expect(await requestElection(client, cli, "scheduler", { timeoutMs: 3000 })).toMatchObject({
      ok: false,
      reason: "too_soon",
    });
    expect(lone.lease.term).toBeGreaterThan(term);

    lone.responder.stop();
    await lone.lease.stop();
  });
});
