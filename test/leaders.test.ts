import { bindCluster, type Cluster, connectBus, decode, type LeaderInfo } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { LeaderElected, names } from "@openclaw/protocol";
import { type ServiceProcess, spawnOclaw, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getJson, startTestCluster, type TestCluster } from "./cluster.js";

type Leader = LeaderInfo;
interface LeadersBody {
  checked_at: string;
  lease_ttl_ms: number;
  leaders: Record<string, Leader | null>;
}

let c: TestCluster;
let api: string;
let bus: Cluster;
const procs = new Map<string, ServiceProcess>();

beforeAll(async () => {
  c = await startTestCluster();
  for (const id of ["sched-1", "sched-2"]) procs.set(id, c.spawn("scheduler", ["--instance", id]));
  for (const id of ["hm-1", "hm-2"]) procs.set(id, c.spawn("health-monitor", ["--instance", id]));
  api = (await c.coordinator()).url;
  const nc = await connectBus({
    url: c.nats.url,
    name: "leaders-test",
    connectTimeoutMs: 10_000,
    log: silentLogger(),
  });
  bus = await bindCluster(nc, names(c.prefix));
}, 120_000);

afterAll(async () => {
  await bus?.nc.close();
  await c?.stop();
});

const leaders = async () => (await getJson<LeadersBody>(`${api}/api/v1/cluster/leaders`)).body;

/** Polls the API until `role` is led by someone matching `ok`. */
function waitForLeader(role: string, ok: (l: Leader) => boolean, timeout = 20_000): Promise<Leader> {
  return waitFor(
    async () => {
      const l = (await leaders()).leaders[role];
      return l && ok(l) ? l : undefined;
    },
    { timeout, message: `no ${role} leader as expected` },
  );
}

/**
 * Waits until `role`'s leader has led one election timeout: before that it refuses to step down
 * (OC-4031). `acquired_at` is the leader's clock, on this machine.
 */
function ledOneTimeout(role: string): Promise<Leader> {
  return waitFor(
    async () => {
      const body = await leaders();
      const l = body.leaders[role];
      return l && Date.now() - Date.parse(l.acquired_at) >= body.lease_ttl_ms + 50 ? l : undefined;
    },
    { timeout: 20_000, message: `the ${role} leader did not lead one election timeout` },
  );
}

/** Every `leader_elected` event stored in the EVENTS stream so far. */
async function leaderElectedEvents(): Promise<LeaderElected[]> {
  const consumer = await bus.js.consumers.get(bus.names.streams.events, {
    filter_subjects: bus.names.subjects.clusterEvent("leader_elected"), // one subject: nats-server 2.9
  });
  const out: LeaderElected[] = [];
  for (;;) {
    const m = await consumer.next({ expires: 1000 });
    if (!m) break;
    const d = decode(LeaderElected, m.data);
    if (d.ok) out.push(d.value);
    if (m.info.pending === 0) break;
  }
  await consumer.delete().catch(() => undefined);
  return out;
}

/** Runs `oclaw <args>` against the test cluster; its exit code and stdout lines. */
async function oclaw(
  args: string[],
): Promise<{ code: number | string; out: Record<string, unknown>[]; err: string }> {
  const proc = spawnOclaw(args, { env: c.env, cwd: c.dir });
  const code = await proc.exitWithin(30_000);
  return { code, out: proc.logs, err: proc.stderr() };
}

describe("leadership, visible and controllable", () => {
  it("GET /api/v1/cluster/leaders names the instance that leads each role, as oclaw leaders does", async () => {
    const sched = await waitForLeader("scheduler", (l) => l.holder.startsWith("sched-"));
    const hm = await waitForLeader("health-monitor", (l) => l.holder.startsWith("hm-"));
    // The holder is the process that says it leads.
    await procs.get(sched.holder)?.waitForLog((l) => l.message === "elected leader", 20_000);
    await procs.get(hm.holder)?.waitForLog((l) => l.message === "elected leader", 20_000);
    const body = await leaders();
    expect(body.lease_ttl_ms).toBe(1500);
    for (const l of [body.leaders.scheduler, body.leaders["health-monitor"]]) {
      expect(l?.term).toBeGreaterThan(0);
      const expires = Date.parse(l?.expires_at ?? "");
      expect(expires).toBeGreaterThan(Date.parse(l?.renewed_at ?? "") - 1000);
      expect(expires).toBeLessThan(Date.now() + 1500 + 2000);
      expect(Date.parse(l?.acquired_at ?? "")).toBeLessThanOrEqual(Date.parse(l?.renewed_at ?? ""));
    }

    const json = await oclaw(["leaders", "--json"]);
    expect(json.code).toBe(0);
    const printed = json.out[0] as unknown as LeadersBody;
    expect(printed.leaders.scheduler?.holder).toBe(sched.holder);
    expect(printed.leaders["health-monitor"]?.holder).toBe(hm.holder);

    const table = await oclaw(["leaders"]);
    expect(table.code).toBe(0);
    const lines = table.out.map((l) => String(l.raw ?? ""));
    expect(lines[0]).toMatch(/^ROLE\s+LEADER\s+TERM/);
    expect(lines.find((l) => l.startsWith("scheduler "))).toContain(sched.holder);
    expect(lines.find((l) => l.startsWith("health-monitor "))).toContain(hm.holder);
  });

  it("oclaw elect --role scheduler: the leader steps down and the standby leads in a higher term", async () => {
    const before = await waitForLeader("scheduler", (l) => l.holder.startsWith("sched-"));
    const other = before.holder === "sched-1" ? "sched-2" : "sched-1";
    const hmBefore = (await leaders()).leaders["health-monitor"];

    await ledOneTimeout("scheduler");
    const run = await oclaw(["elect", "--role", "scheduler", "--json"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out[0]).toMatchObject({
      stepped_down: [{ role: "scheduler", holder: before.holder, term: before.term, hold_off_ms: 1500 }],
      not_answered: [],
    });

    const after = await waitForLeader("scheduler", (l) => l.holder === other && l.term > before.term);
    expect(after.term).toBeGreaterThan(before.term);
    await procs
      .get(other)
      ?.waitForLog((l) => l.message === "elected leader" && Number(l.term) >= after.term, 20_000);
    await procs
      .get(before.holder)
      ?.waitForLog((l) => l.message === "stepping down on request; a new election follows", 5000);
    // The health monitor's leadership was not touched.
    expect((await leaders()).leaders["health-monitor"]?.term).toBe(hmBefore?.term);

    // The new leader announced itself on the EVENTS stream.
    const events = await waitFor(
      async () => {
        const all = await leaderElectedEvents();
        return all.some((e) => e.role === "scheduler" && e.leader === other && e.term === after.term)
          ? all
          : undefined;
      },
      { timeout: 20_000, message: "no leader_elected event for the new scheduler leader" },
    );
    expect(
      events.some((e) => e.role === "scheduler" && e.leader === before.holder && e.term === before.term),
    ).toBe(true);
  });

  it("POST /api/v1/cluster/elect does the same over HTTP, and checks its body", async () => {
    const before = await waitForLeader("health-monitor", (l) => l.holder.startsWith("hm-"));
    const other = before.holder === "hm-1" ? "hm-2" : "hm-1";

    const bad = await fetch(`${api}/api/v1/cluster/elect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ role: "janitor" }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "OC-4000", field: "role" });
    const unknown = await fetch(`${api}/api/v1/cluster/elect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ roles: ["scheduler"] }),
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: "OC-4000", field: "roles" });
    expect((await leaders()).leaders["health-monitor"]?.holder).toBe(before.holder);

    await ledOneTimeout("health-monitor");
    const res = await fetch(`${api}/api/v1/cluster/elect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ role: "health-monitor", reason: "leaders test" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      stepped_down: [{ role: "health-monitor", holder: before.holder, term: before.term, hold_off_ms: 1500 }],
      not_answered: [],
    });
    const after = await waitForLeader("health-monitor", (l) => l.holder === other && l.term > before.term);
    expect(after.term).toBeGreaterThan(before.term);
    await waitFor(
      async () =>
        (await leaderElectedEvents()).some(
          (e) => e.role === "health-monitor" && e.leader === other && e.term === after.term,
        ),
      { timeout: 20_000, message: "no leader_elected event for the new health-monitor leader" },
    );
  });

  it("answers 503 OC-5004 (and oclaw elect exits 1) when no leader answers", async () => {
    for (const id of ["sched-1", "sched-2"]) await procs.get(id)?.stop();
    await waitFor(async () => (await leaders()).leaders.scheduler === null, { timeout: 20_000 });

    const res = await fetch(`${api}/api/v1/cluster/elect`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ role: "scheduler" }),
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("OC-5004");
    expect(body.message).toContain("no scheduler instance is running");

    const run = await oclaw(["elect", "--role", "scheduler", "--timeout", "2s"]);
    expect(run.code).toBe(1);
    expect(run.err).toContain("[OC-5004] no scheduler instance is running");

    // Both roles by default: the health monitor still answers, so the HTTP call is a 200 naming what did not.
    const hm = await waitForLeader("health-monitor", (l) => l.holder.startsWith("hm-"));
    // Leading once it has taken over (it answers only then).
    await procs
      .get(hm.holder)
      ?.waitForLog((l) => l.message === "elected leader" && Number(l.term) >= hm.term, 20_000);
    await ledOneTimeout("health-monitor");
    const both = await fetch(`${api}/api/v1/cluster/elect`, { method: "POST" });
    expect(both.status).toBe(200);
    expect(await both.json()).toMatchObject({
      stepped_down: [{ role: "health-monitor", holder: hm.holder }],
      not_answered: [{ role: "scheduler", reason: "no_instance" }],
    });

    const usage = await oclaw(["elect", "--role", "janitor"]);
    expect(usage.code).toBe(2);
  });

  it("a lone scheduler that is asked to step down leads again after its hold-off, in a higher term (oclaw elect --wait)", async () => {
    procs.set("sched-3", c.spawn("scheduler", ["--instance", "sched-3"]));
    const first = await waitForLeader("scheduler", (l) => l.holder === "sched-3");
    // Leading once it has taken over. On a busy machine a takeover can time out and be redone in
    // a later term: the term that counts is the one it logs as elected.
    const elected = await procs
      .get("sched-3")
      ?.waitForLog((l) => l.message === "elected leader" && Number(l.term) >= first.term, 20_000);
    const before = { ...first, term: Number(elected?.term) };

    await ledOneTimeout("scheduler");
    const run = await oclaw(["elect", "--role", "scheduler", "--wait", "--json"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const out = run.out[0] as {
      stepped_down: { term: number }[];
      elected: { holder: string; term: number }[];
    };
    expect(out.stepped_down).toMatchObject([{ role: "scheduler", holder: "sched-3", term: before.term }]);
    expect(out.elected).toMatchObject([{ role: "scheduler", holder: "sched-3" }]);
    expect(out.elected[0]?.term).toBeGreaterThan(before.term);
    await waitFor(
      async () =>
        (await leaderElectedEvents()).some(
          (e) => e.role === "scheduler" && e.leader === "sched-3" && e.term === out.elected[0]?.term,
        ),
      { timeout: 20_000, message: "no leader_elected event for the re-elected scheduler" },
    );

    // Hardening item 8: asked again at once, the lone scheduler was out for another hold-off, and
    // so on (~85% of the time without a leader). Now it refuses within one election timeout of its
    // election: the CLI says so in one line and exits 1, the API answers 429 OC-4031.
    // The window is short here (1.5 s): should the CLI take longer to start than what is left of
    // it, the scheduler steps down (or is still out: OC-5004) and the next ask falls in the next
    // window.
    const again = await waitFor(
      async () => {
        const r = await oclaw(["elect", "--role", "scheduler"]);
        return r.err.includes("[OC-4031]") ? r : undefined;
      },
      { timeout: 30_000, message: "oclaw elect was never refused" },
    );
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /^oclaw elect: \[OC-4031\] the scheduler leader sched-3 was elected \d+\.\ds ago \(term \d+\); a new election is refused within one election timeout \(1\.5s\) of the last: try again in \d+\.\ds\n$/,
    );
    const refused = await waitFor(
      async () => {
        const res = await fetch(`${api}/api/v1/cluster/elect`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ role: "scheduler" }),
        });
        return res.status === 429 ? res : undefined;
      },
      { timeout: 30_000, message: "POST /api/v1/cluster/elect was never refused" },
    );
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ code: "OC-4031" });
    expect((await leaders()).leaders.scheduler?.holder).toBe("sched-3");
  });
});
