import { type Cluster, decode } from "@openclaw/bus";
import { type Job, OpenClawCluster } from "@openclaw/cluster";
import { isTerminal, TaskRecord } from "@openclaw/protocol";
import {
  type NatsCluster,
  type NatsServer,
  type ServiceProcess,
  startNatsCluster,
  startNatsServer,
  waitFor,
} from "@openclaw/testing";
import { afterAll, describe, expect, it, onTestFailed } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/**
 * NATS itself fails: the single nats-server is killed and started again under load, and one node
 * of a three-node NATS cluster dies. Every service is a separate process and must ride it out
 * on its own: nothing here restarts a service.
 */

const SERVICES = ["registry", "health-monitor", "scheduler"] as const;

/** The task records of `ids`, read straight from the `tasks` bucket (undefined: not there yet). */
async function records(cluster: Cluster, ids: string[]): Promise<Map<string, TaskRecord>> {
  const out = new Map<string, TaskRecord>();
  for (let i = 0; i < ids.length; i += 50) {
    const batch = ids.slice(i, i + 50);
    const entries = await Promise.all(batch.map((id) => cluster.kv.tasks.get(id)));
    entries.forEach((e, k) => {
      const d = e?.operation === "PUT" ? decode(TaskRecord, e.value) : undefined;
      if (d?.ok) out.set(batch[k] as string, d.value);
    });
  }
  return out;
}

/** Waits until every task of `ids` has ended; resolves with their records. */
async function allFinished(
  sdk: OpenClawCluster,
  ids: string[],
  timeout: number,
): Promise<Map<string, TaskRecord>> {
  let last = 0;
  return waitFor(
    async () => {
      const { cluster } = await sdk.connection();
      const recs = await records(cluster, ids);
      last = [...recs.values()].filter((r) => isTerminal(r.status)).length;
      return last === ids.length ? recs : undefined;
    },
    { timeout, interval: 1000, message: `not every task finished (${ids.length} tasks)` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ${last} of ${ids.length} had`);
  });
}

/**
 * Every task completed, by exactly one successful attempt, and announced once: one `completed`
 * event per task in the EVENTS stream (a duplicate publish that got through would count 2).
 */
async function expectCompletedOnce(
  sdk: OpenClawCluster,
  prefix: string,
  recs: Map<string, TaskRecord>,
): Promise<void> {
  const bad = [...recs].filter(([, r]) => r.status !== "completed");
  expect(bad.map(([id, r]) => `${id}: ${r.status} ${JSON.stringify(r.error)}`)).toEqual([]);
  for (const [id, r] of recs) {
    expect(
      r.attempts.filter((a) => a.status === "completed"),
      id,
    ).toHaveLength(1);
  }
  const { cluster } = await sdk.connection();
  const info = await cluster.jsm.streams.info(cluster.names.streams.events, {
    subjects_filter: `${prefix}.evt.task.*.completed`,
  });
  const counts = info.state.subjects ?? {};
  const wrong = [...recs.keys()].filter((id) => counts[`${prefix}.evt.task.${id}.completed`] !== 1);
  expect(wrong.map((id) => `${id}: ${counts[`${prefix}.evt.task.${id}.completed`] ?? 0}`)).toEqual([]);
}

/** How the attempts before the last one ended, counted by status and error code (for the report). */
function earlierAttempts(recs: Map<string, TaskRecord>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of recs.values()) {
    for (const a of r.attempts.slice(0, -1)) {
      const key = `${a.status}${a.error ? ` ${a.error.code}: ${a.error.message.slice(0, 80)}` : ""}`;
      out[key] = (out[key] ?? 0) + 1;
    }
  }
  return out;
}

/** Every service is still its first process, and has not exited. */
function expectNoneExited(procs: ServiceProcess[]): void {
  const gone = procs.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  expect(
    gone.map((p) => `${p.pid}: ${p.child.exitCode ?? p.child.signalCode} ${p.stderr().slice(-500)}`),
  ).toEqual([]);
}

/** On failure, print what the services said above info level (and the last lines of each), to see why. */
function dumpLogsOnFailure(getCluster: () => TestCluster | undefined): void {
  onTestFailed(() => {
    for (const p of getCluster()?.processes ?? []) {
      const args = p.child.spawnargs.slice(2, 4).join(" ");
      const lines = p.logs.filter((l) => l.level !== "debug" && l.level !== "info");
      console.log(`--- ${args} (pid ${p.pid}, exit ${p.child.exitCode ?? p.child.signalCode})`);
      for (const l of [...lines.slice(-15), ...p.logs.slice(-5)])
        console.log(JSON.stringify(l).slice(0, 400));
      if (p.stderr()) console.log(`stderr: ${p.stderr().slice(-1000)}`);
    }
  });
}

/** Notes how long each phase of a test took; `report()` prints them (the runs are slow and shared: worth seeing). */
function phases(): { mark(name: string): void; report(title: string): void } {
  let last = Date.now();
  const marks: string[] = [];
  return {
    mark(name) {
      const now = Date.now();
      marks.push(`${name} ${((now - last) / 1000).toFixed(1)}s`);
      last = now;
    },
    report(title) {
      console.log(`${title}: ${marks.join(", ")}`);
    },
  };
}

const reconnected = (p: ServiceProcess, after: number) =>
  p.logs.some((l) => l.message === "reconnected to NATS" && Date.parse(String(l.timestamp)) >= after);

describe("the nats-server is killed and restarted under load", () => {
  let nats: NatsServer;
  let c: TestCluster;
  let sdk: OpenClawCluster;

  afterAll(async () => {
    await sdk?.close();
    await c?.stop();
    await nats?.stop();
  });

  it("every service reconnects by itself, and every acknowledged task completes exactly once", async () => {
    const t = phases();
    dumpLogsOnFailure(() => c);
    nats = await startNatsServer();
    c = await startTestCluster({ nats });
    for (const s of SERVICES) c.spawn(s, [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
    const api = (await c.coordinator()).url;
    await Promise.all([
      c.worker("nf-w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "8"]),
      c.worker("nf-w2", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "8"]),
    ]);
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 2, 30_000);
    const services = [...c.processes];
    sdk = new OpenClawCluster({ natsUrl: nats.url, prefix: c.prefix });
    t.mark("start services");

    // 240 tasks of ~300 ms over 16 slots: several seconds of work.
    const task = (n: number) =>
      n % 3 === 0
        ? { type: "echo", payload: { n } }
        : { type: "sleep", payload: { ms: 300, steps: 2 }, metadata: { n: String(n) } };
    const first = await Promise.all(Array.from({ length: 240 }, (_, n) => sdk.submitTask(task(n))));
    t.mark("submit 240");
    const acked: string[] = first.map((j) => j.id);

    // Once work is under way (some done, most not), kill NATS.
    const { cluster } = await sdk.connection();
    const doneBeforeKill = await waitFor(
      async () => {
        const done = [...(await records(cluster, acked)).values()].filter(
          (r) => r.status === "completed",
        ).length;
        return done >= 20 ? done : undefined;
      },
      { timeout: 60_000, interval: 200, message: "no task completed" },
    );
    expect(doneBeforeKill).toBeLessThan(acked.length);
    t.mark("first 20 done");

    // Keep submitting through the outage: whatever the SDK acknowledged must complete too.
    let refused = 0;
    const submitter = (async () => {
      for (let n = 1000; n < 1080; n += 10) {
        const batch = await Promise.allSettled(
          Array.from({ length: 10 }, (_, k) => sdk.submitTask(task(n + k)) as Promise<Job>),
        );
        for (const r of batch) {
          if (r.status === "fulfilled") acked.push(r.value.id);
          else refused++;
        }
      }
    })();

    const killedAt = Date.now();
    await nats.kill();
    // Down for a moment (not an assertion: an outage of about a second, as a crash and a supervisor's restart would give).
    await new Promise((r) => setTimeout(r, 1000));
    nats = await nats.restart();
    t.mark("kill and restart NATS");

    // Every service noticed the outage and reconnected on its own.
    await waitFor(() => services.every((p) => reconnected(p, killedAt)), {
      timeout: 60_000,
      interval: 200,
      message: "not every service reconnected",
    });
    t.mark("services reconnected");
    await submitter;

    const recs = await allFinished(sdk, acked, 240_000);
    t.mark("all finished");
    await expectCompletedOnce(sdk, c.prefix, recs);
    // The outage failed no skill: a checkpoint write waits through it (or is given up), never throws.
    expect(Object.keys(earlierAttempts(recs)).filter((k) => k.includes("OC-6001"))).toEqual([]);
    expectNoneExited(services);
    expect(c.processes).toHaveLength(services.length);

    // The cluster is whole again: both nodes healthy (heartbeating; not `status`, which says
    // `error` while a circuit breaker is open: attempts failed by the outage can open one, see
    // docs/reliability.md), the coordinator's read model caught up.
    await waitForNodes(api, (n) => n.filter((x) => x.health === "online").length === 2, 30_000);
    t.mark("nodes online");
    // The coordinator's read model follows within seconds (not after the client notices a silent
    // consumer, ~45 s later): every task is there, completed.
    await waitFor(
      async () => {
        for (const id of acked) {
          const row = await getJson<{ status: string }>(`${api}/api/v1/tasks/${id}`);
          if (row.body.status !== "completed") return false;
        }
        return true;
      },
      { timeout: 20_000, interval: 500, message: "the coordinator's read model did not catch up" },
    );
    t.mark("read model");
    // And it still takes work.
    const after = await sdk.submitTask({ type: "echo", payload: { after: true } });
    expect((await after.wait({ timeout: "60s" })).data).toEqual({ after: true });
    t.mark("one more task");
    t.report("nats restart phases");
    console.log(
      `nats restart: ${acked.length} tasks acknowledged (${refused} refused during the outage), ` +
        `${doneBeforeKill} done before the kill, ` +
        `${[...recs.values()].filter((r) => r.attempts.length > 1).length} needed more than one attempt ` +
        `(earlier attempts: ${JSON.stringify(earlierAttempts(recs))})`,
    );
  }, 420_000);
});

describe("a three-node NATS cluster with cluster.replicas 3 loses a node", () => {
  let nats: NatsCluster;
  let c: TestCluster;
  let sdk: OpenClawCluster;

  afterAll(async () => {
    await sdk?.close();
    await c?.stop();
    await nats?.stopAll();
  });

  it("keeps every stream and bucket at three copies, and work goes on while a node is down and after it returns", async () => {
    const t = phases();
    dumpLogsOnFailure(() => c);
    nats = await startNatsCluster({ size: 3 });
    t.mark("start NATS cluster");
    // The harness only needs the URL of a server it does not own (it never stops it).
    c = await startTestCluster({ nats: { url: nats.url } as NatsServer });
    c.env.OPENCLAW_REPLICAS = "3";
    // One service provisions the replicated streams and buckets first: creating each elects a raft
    // group, and several services racing to create them on a busy machine take long enough to
    // outlast the harness's start-up waits (they would get there: provisioning retries timeouts).
    const scheduler = c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
    await scheduler.waitForLog((l) => l.message === "scheduler started", 90_000);
    t.mark("provision R3");
    c.spawn("registry");
    c.spawn("health-monitor");
    const api = (await c.coordinator()).url;
    await Promise.all([
      c.worker("nc-w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "8"]),
      c.worker("nc-w2", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "8"]),
    ]);
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 2, 30_000);
    t.mark("start services");
    const services = [...c.processes];
    sdk = new OpenClawCluster({ natsUrl: nats.url, prefix: c.prefix });
    const { cluster } = await sdk.connection();

    // Every stream and bucket has three copies.
    const streams = [
      ...Object.values(cluster.names.streams),
      ...Object.values(cluster.names.buckets).map((b) => `KV_${b}`),
    ];
    for (const s of streams) {
      const info = await cluster.jsm.streams.info(s);
      expect(info.config.num_replicas, s).toBe(3);
      expect(info.cluster?.replicas?.length, s).toBe(2);
    }

    const submit = (n: number, from: number) =>
      Promise.all(
        Array.from({ length: n }, (_, k) =>
          sdk.submitTask({
            type: "sleep",
            payload: { ms: 200, steps: 2 },
            metadata: { n: String(from + k) },
          }),
        ),
      ).then((jobs) => jobs.map((j) => j.id));

    const before = await submit(40, 0);
    t.mark("submit 40");
    const beforeRecs = await allFinished(sdk, before, 120_000);
    t.mark("first 40 tasks");

    // Kill the NATS node the scheduler leader is connected to, while work is running.
    const running = await submit(100, 100);
    const serverId = String(scheduler.logs.find((l) => l.message === "connected to NATS")?.server);
    const varz = await Promise.all(
      nats.nodes.map((n) =>
        getJson<{ server_id: string }>(`http://127.0.0.1:${n.httpPort}/varz`).then((r) => r.body.server_id),
      ),
    );
    const victim = Math.max(0, varz.indexOf(serverId));
    const killedAt = Date.now();
    await nats.stop(victim);
    t.mark("submit 100, kill a node");
    expect(nats.nodes[victim]?.running).toBe(false);

    // More work while it is down.
    const during = await submit(60, 300);
    const all = [...before, ...running, ...during];
    const recs = await allFinished(sdk, [...running, ...during], 240_000);
    t.mark("160 tasks with a node down");
    await expectCompletedOnce(sdk, c.prefix, recs);
    // The scheduler (at least) was on the dead node and moved to another on its own.
    expect(reconnected(scheduler, killedAt)).toBe(true);

    // The node comes back, catches up, and the cluster still takes work.
    await nats.restart(victim);
    // It catches up: every stream and bucket has its three copies current again.
    await waitFor(
      async () => {
        for (const s of streams) {
          const replicas = (await cluster.jsm.streams.info(s)).cluster?.replicas ?? [];
          if (replicas.length !== 2 || !replicas.every((r) => r.current)) return false;
        }
        return true;
      },
      { timeout: 60_000, interval: 500, message: "the restarted node did not catch up" },
    );
    t.mark("restart the node");
    const last = await submit(20, 500);
    const lastRecs = await allFinished(sdk, last, 120_000);
    t.mark("20 more tasks");
    await expectCompletedOnce(sdk, c.prefix, new Map([...(await records(cluster, all)), ...lastRecs]));
    for (const s of streams) {
      const info = await cluster.jsm.streams.info(s);
      expect(info.config.num_replicas, s).toBe(3);
    }
    expectNoneExited(services);
    expect(c.processes).toHaveLength(services.length);
    await waitForNodes(api, (n) => n.filter((x) => x.health === "online").length === 2, 30_000);
    // The coordinator's read model has every task, completed.
    await waitFor(
      async () => {
        for (const id of [...all, ...last]) {
          const row = await getJson<{ status: string }>(`${api}/api/v1/tasks/${id}`);
          if (row.body.status !== "completed") return false;
        }
        return true;
      },
      { timeout: 30_000, interval: 500, message: "the coordinator's read model did not catch up" },
    );
    t.report("nats cluster phases");
    console.log(
      `nats cluster: earlier attempts before the kill ${JSON.stringify(earlierAttempts(beforeRecs))}, ` +
        `with a node down ${JSON.stringify(earlierAttempts(recs))}, after ${JSON.stringify(earlierAttempts(lastRecs))}`,
    );
  }, 420_000);
});
