import autocannon from "autocannon";
import { bindBus } from "../bus.js";
import {
  type Contender,
  type Measurement,
  type RowSpec,
  type RunContext,
  type Scenario,
  setup,
} from "../harness.js";
import { startOurCluster } from "../infra.js";
import { checkServices } from "../ours.js";
import { CpuMeter, nodeProcessOf } from "../proc.js";
import { type Log, polled, waitForCount } from "../progress.js";
import { type SimNodesOptions, startSimNodes } from "../sim.js";

export interface ApiOptions {
  /** Simulated nodes registered and heartbeating. */
  nodes: number;
  /** How long each endpoint is loaded. */
  seconds: number;
  /** autocannon's concurrent connections. @default 50 */
  connections?: number;
  /** @default 250 */
  nodesPerProcess?: number;
  /** @default 100 */
  skillPool?: number;
  /** @default 3 */
  skillsPerNode?: number;
}

/** The endpoints loaded, in order, with the key of their metrics. */
const ENDPOINTS = [
  { key: "skill", path: "/api/v1/nodes/skills/sim-skill-0", label: "GET /api/v1/nodes/skills/{skill}" },
  { key: "health", path: "/api/v1/cluster/health", label: "GET /api/v1/cluster/health" },
] as const;

/** Waits until the coordinator's read model counts every simulated node (`check` throws if something died). */
async function coordinatorSees(apiUrl: string, nodes: number, check: () => void, log: Log): Promise<void> {
  const seen = polled(async () => {
    const res = await fetch(`${apiUrl}/api/v1/cluster/health`);
    if (!res.ok) throw new Error(`cluster health: ${res.status}`);
    return ((await res.json()) as { total_nodes?: number }).total_nodes ?? 0;
  }, 250);
  try {
    await waitForCount(
      () => {
        check();
        return seen.value();
      },
      nodes,
      { label: "nodes in the coordinator's read model", log, stallMs: 30_000 },
    );
  } finally {
    seen.stop();
  }
}

/**
 * 4. API: the coordinator's HTTP API under load while `nodes` simulated nodes heartbeat every
 * second; autocannon on two read endpoints, one after the other: requests per second and p99.
 */
export function apiScenario(o: ApiOptions): Scenario {
  const connections = o.connections ?? 50;
  const sim: SimNodesOptions = {
    nodes: o.nodes,
    perProcess: o.nodesPerProcess ?? 250,
    heartbeatMs: 1000,
    skillPool: o.skillPool ?? 100,
    skillsPerNode: o.skillsPerNode ?? 3,
  };
  const processes = Math.ceil(o.nodes / (sim.perProcess ?? 250));

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log }: RunContext): Promise<Measurement> {
      const cluster = await setup(() => startOurCluster(cleanup, { workers: 0, concurrency: 1, log }));
      const group = await setup(async () => {
        const bus = await bindBus(cleanup, cluster);
        const { group } = await startSimNodes(cleanup, cluster, bus, sim, log);
        await coordinatorSees(
          cluster.apiUrl,
          o.nodes,
          () => {
            group.check();
            checkServices(cluster);
          },
          log,
        );
        return group;
      });
      const m: Measurement = {};
      // Where the CPU goes while an endpoint is loaded: the coordinator, autocannon (this process),
      // and everything else (nats-server, the other services, the simulated nodes).
      const pids: Record<string, number> = {
        ...Object.fromEntries(cluster.services.map((s) => [s.name, nodeProcessOf(s.proc.pid)])),
        "nats-server": cluster.nats.process.pid ?? -1,
        ...Object.fromEntries(group.pids().map((p, i) => [`sim-${i}`, p])),
        bench: process.pid,
      };
      for (const e of ENDPOINTS) {
        const url = `${cluster.apiUrl}${e.path}`;
        const sample = await fetch(url);
        const body = await sample.text();
        if (!sample.ok) throw new Error(`${e.path}: ${sample.status} ${body.slice(0, 200)}`);
        if (e.key === "skill") m.skill_nodes = (JSON.parse(body) as unknown[]).length;
        const cpu = new CpuMeter(pids);
        cpu.start();
        const r = await autocannon({ url, connections, duration: o.seconds });
        const used = cpu.stop();
        const bad = r.errors + r.timeouts + r.non2xx;
        if (bad > 0) {
          throw new Error(
            `${e.path}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts of ${r.requests.total}`,
          );
        }
        if (r.requests.total === 0) throw new Error(`${e.path}: no request answered`);
        m[`${e.key}_rps`] = r.requests.total / (r.duration || o.seconds);
        m[`${e.key}_p99_ms`] = r.latency.p99;
        m[`${e.key}_p50_ms`] = r.latency.p50;
        m[`${e.key}_kb`] = Buffer.byteLength(body) / 1024;
        const busy = (name: string) => ((used[name] ?? 0) / (r.duration || o.seconds)) * 100;
        m[`${e.key}_coordinator_cpu_pct`] = busy("coordinator");
        m[`${e.key}_coordinator_cpu_ms_per_req`] = ((used.coordinator ?? 0) * 1000) / r.requests.total;
        m[`${e.key}_bench_cpu_pct`] = busy("bench");
        m[`${e.key}_others_cpu_pct`] = Object.keys(used)
          .filter((k) => k !== "coordinator" && k !== "bench")
          .reduce((a, k) => a + busy(k), 0);
        log(
          `${e.path}: ${Math.round(m[`${e.key}_rps`] ?? 0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`,
        );
        checkServices(cluster);
        group.check();
      }
      return m;
    },
  };

  const rows: RowSpec[] = ENDPOINTS.flatMap((e): RowSpec[] => [
    {
      label: `${e.label}: requests/s`,
      unit: "req/s",
      ours: { contender: "ours", metric: `${e.key}_rps` },
      target: { text: "≥ 5,000 req/s", met: (a) => a >= 5000 },
    },
    {
      label: `${e.label}: p99`,
      unit: "ms",
      digits: 1,
      ours: { contender: "ours", metric: `${e.key}_p99_ms` },
      target: { text: "< 10 ms", met: (a) => a < 10 },
    },
    {
      label: `${e.label}: p50`,
      unit: "ms",
      digits: 1,
      ours: { contender: "ours", metric: `${e.key}_p50_ms` },
    },
    {
      label: `${e.label}: answer size`,
      unit: "KB",
      digits: 1,
      ours: { contender: "ours", metric: `${e.key}_kb` },
    },
    {
      label: `${e.label}: coordinator CPU per request`,
      unit: "ms",
      digits: 3,
      ours: { contender: "ours", metric: `${e.key}_coordinator_cpu_ms_per_req` },
    },
    ...(
      [
        ["coordinator", "coordinator"],
        ["autocannon (the bench)", "bench"],
        ["everything else", "others"],
      ] as const
    ).map(
      ([who, key]): RowSpec => ({
        label: `${e.label}: CPU of ${who}`,
        unit: "% of a core",
        ours: { contender: "ours", metric: `${e.key}_${key}_cpu_pct` },
      }),
    ),
  ]);
  rows.push({
    label: "nodes in the skill's answer",
    unit: "nodes",
    ours: { contender: "ours", metric: "skill_nodes" },
  });

  return {
    id: "api",
    title: "4. API",
    description: [
      `The coordinator's HTTP API (one \`oclaw coordinator\` process, its SQLite read model) while ${o.nodes.toLocaleString("en-US")} simulated nodes (${processes} processes of up to ${sim.perProcess}) register and heartbeat every second, each with the very messages a worker publishes (\`NodeRegister\` through JetStream, \`NodeHeartbeat\` on its node subject), each with ${sim.skillsPerNode} of ${sim.skillPool} skills (\`sim-skill-0\` ... \`sim-skill-${(sim.skillPool ?? 100) - 1}\`); no workers.`,
      `autocannon (in the bench process, on the same cores) loads each endpoint for ${o.seconds} s with ${connections} connections, one endpoint after the other: \`GET /api/v1/nodes/skills/sim-skill-0\` (the nodes with that skill, every field of each) and \`GET /api/v1/cluster/health\`. Requests/s is answered requests over the duration; latencies are autocannon's (1 ms resolution). Every answer must be 2xx.`,
      `CPU (user + system from /proc, % of one core) over each endpoint's load: the coordinator, the bench process (autocannon), and everything else together (nats-server, registry, health monitor, scheduler, the simulated nodes); "coordinator CPU per request" is the coordinator's CPU time over the requests answered.`,
    ].join("\n\n"),
    contenders: [ours],
    rows,
  };
}
