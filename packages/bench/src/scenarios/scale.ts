import { decode } from "@openclaw/bus";
import type { TaskInput } from "@openclaw/cluster";
import { NodeHealthRecord } from "@openclaw/protocol";
import { bindBus, pendingTasks } from "../bus.js";
import { now, sleep } from "../clock.js";
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
import { placementBench } from "../placement.js";
import { CpuMeter, nodeProcessOf, rssMb } from "../proc.js";
import { polled, waitForCount } from "../progress.js";
import { type SimNodesOptions, startSimNodes } from "../sim.js";

export interface ScaleOptions {
  /** Simulated nodes heartbeating every second. */
  nodes: number;
  /** How long they are watched. */
  seconds: number;
  /** Tasks queued in the scheduler (no node can run them). */
  queued: number;
  /** Tasks per `submitTasks` call. @default 1000 */
  chunk?: number;
  /** Placement decisions timed in-process. @default 10_000 */
  decisions?: number;
  /** @default 250 */
  nodesPerProcess?: number;
  /** Queueing is given up when the count stops moving this long. @default 60_000 */
  stallMs?: number;
}

/** The service processes whose CPU is reported, by metric key. */
const CPU_OF = [
  ["registry", "registry"],
  ["health-monitor", "health_monitor"],
  ["scheduler", "scheduler"],
  ["coordinator", "coordinator"],
] as const;

/**
 * 5. Scale: `nodes` simulated nodes heartbeating every second for `seconds` (nodes marked
 * suspect or offline, CPU of registry and health monitor); then `queued` tasks no node can run
 * queued in the scheduler (its RSS); and the placement code's decision time in-process.
 */
export function scaleScenario(o: ScaleOptions): Scenario {
  const chunk = o.chunk ?? 1000;
  const decisions = o.decisions ?? 10_000;
  const sim: SimNodesOptions = { nodes: o.nodes, perProcess: o.nodesPerProcess ?? 250, heartbeatMs: 1000 };
  const processes = Math.ceil(o.nodes / (sim.perProcess ?? 250));

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log }: RunContext): Promise<Measurement> {
      const m: Measurement = {};
      // First, while nothing else runs: the placement code alone.
      const p = placementBench({ nodes: o.nodes, queued: o.queued, decisions });
      m.place_p50_us = p.placeP50Us;
      m.place_p99_us = p.placeP99Us;
      m.decision_p99_us = p.stepP99Us;
      log(
        `place(): p50 ${p.placeP50Us.toFixed(0)} µs, p99 ${p.placeP99Us.toFixed(0)} µs; whole decision p99 ${p.stepP99Us.toFixed(0)} µs`,
      );

      const cluster = await setup(() => startOurCluster(cleanup, { workers: 0, concurrency: 1, log }));
      const bus = await setup(() => bindBus(cleanup, cluster));
      // Every health verdict, from the start: the health monitor publishes suspect/offline/online.
      const marked = { suspect: new Set<string>(), offline: new Set<string>() };
      bus.nc.subscribe(cluster.names.subjects.nodeEventsAll, {
        callback: (err, msg) => {
          const e = err ? undefined : cluster.names.parseEventSubject(msg.subject);
          if (e?.id && (e.kind === "suspect" || e.kind === "offline")) marked[e.kind].add(e.id);
        },
      });
      await bus.nc.flush();
      const { group } = await setup(() => startSimNodes(cleanup, cluster, bus, sim, log));
      const pid = (name: string) => {
        const s = cluster.services.find((x) => x.name === name);
        if (!s) throw new Error(`no service ${name}`);
        return nodeProcessOf(s.proc.pid);
      };
      const cpu = new CpuMeter({
        ...Object.fromEntries(CPU_OF.map(([name]) => [name, pid(name)])),
        "nats-server": cluster.nats.process.pid ?? -1,
        ...Object.fromEntries(group.pids().map((p, i) => [`sim-${i}`, p])),
      });
      const beatsBefore = group.count;
      cpu.start();
      const start = now();
      while (now() - start < o.seconds * 1000) {
        checkServices(cluster);
        group.check();
        await sleep(200);
      }
      const used = cpu.stop();
      const window = (now() - start) / 1000;
      const beats = group.count - beatsBefore;
      for (const [name, key] of CPU_OF) m[`${key}_cpu_pct`] = ((used[name] ?? 0) / window) * 100;
      m.nats_cpu_pct = ((used["nats-server"] ?? 0) / window) * 100;
      m.sim_cpu_pct =
        (Object.entries(used)
          .filter(([k]) => k.startsWith("sim-"))
          .reduce((a, [, v]) => a + v, 0) /
          window) *
        100;
      m.heartbeats_per_s = beats / window;
      m.nodes_offline = marked.offline.size;
      m.nodes_suspect = marked.suspect.size;
      // The health records as they stand, each read by its key: every node should be online.
      let notOnline = 0;
      const ids = Array.from({ length: o.nodes }, (_, i) => `sim-${i}`);
      for (let i = 0; i < ids.length; i += 100) {
        const batch = await Promise.all(ids.slice(i, i + 100).map((id) => bus.kv.nodeHealth.get(id)));
        for (const e of batch) {
          const d = e?.operation === "PUT" ? decode(NodeHealthRecord, e.value) : undefined;
          if (!d?.ok || d.value.status !== "online") notOnline += 1;
        }
      }
      m.nodes_not_online_at_end = notOnline;
      log(
        `${o.nodes} nodes for ${window.toFixed(0)} s: ${marked.suspect.size} ever suspect, ${marked.offline.size} ever offline, ${notOnline} not online now; registry ${m.registry_cpu_pct?.toFixed(1)}% CPU, health monitor ${m.health_monitor_cpu_pct?.toFixed(1)}%`,
      );

      // The scheduler holding `queued` tasks nobody can run (the nodes keep heartbeating).
      const batch = (n: number): TaskInput[] => Array.from({ length: n }, () => ({ type: "bench-nobody" }));
      const queueStart = now();
      const pending = polled(() => pendingTasks(bus), 500);
      try {
        for (let left = o.queued; left > 0; left -= chunk) {
          await cluster.sdk.submitTasks(batch(Math.min(chunk, left)));
        }
        await waitForCount(
          () => {
            checkServices(cluster);
            return pending.value();
          },
          o.queued,
          { label: "tasks queued in the scheduler", log, stallMs: o.stallMs ?? 60_000 },
        );
      } finally {
        pending.stop();
      }
      m.queue_s = (now() - queueStart) / 1000;
      m.scheduler_rss_mb = rssMb(pid("scheduler"));
      log(
        `${o.queued} tasks queued in ${m.queue_s.toFixed(1)} s; scheduler RSS ${m.scheduler_rss_mb.toFixed(0)} MB`,
      );
      return m;
    },
  };

  const n = o.nodes.toLocaleString("en-US");
  const q = o.queued.toLocaleString("en-US");
  const cpuRow = (label: string, metric: string): RowSpec => ({
    label: `CPU: ${label}`,
    unit: "% of a core",
    digits: 1,
    ours: { contender: "ours", metric },
  });
  return {
    id: "scale",
    title: "5. Scale",
    description: [
      `${n} simulated nodes (${processes} processes of up to ${sim.perProcess}) register and heartbeat every second with the very messages a worker publishes, for ${o.seconds} s, into our cluster (nats-server, registry, health monitor, scheduler, coordinator, each an \`oclaw\` process with default settings; no workers). "Marked" counts the distinct nodes the health monitor published a \`suspect\` (more than 3 heartbeat intervals late) or \`offline\` (no heartbeat for \`heartbeat_timeout\`, 90 s by default) event for, from the first register on; "not online at the end" reads every \`node_health\` record after the window. CPU is user + system time from /proc over the window, as a percentage of one core.`,
      `Then ${q} tasks of a skill no node has (\`bench-nobody\`) are submitted with \`submitTasks\` in chunks of ${chunk.toLocaleString("en-US")}; once the scheduler leader counts them all pending (its \`queue\` figures), its resident size (VmRSS) is read.`,
      `Placement decision time is measured in the bench process, before the cluster starts, with the scheduler's own code (\`PendingQueue\` and \`place\` from @openclaw/scheduler): ${n} node views (3 of 100 skills each, 100 slots), ${q} queued tasks (one of the 100 skills each), ${decisions.toLocaleString("en-US")} decisions (after 500 untimed): \`place()\` alone, and the whole decision as a placement round makes it (next task from the queue, fresh node views, \`place()\`, dequeue).`,
    ].join("\n\n"),
    contenders: [ours],
    rows: [
      {
        label: "nodes ever marked offline",
        unit: "nodes",
        ours: { contender: "ours", metric: "nodes_offline" },
        target: { text: "0", met: (a) => a === 0 },
      },
      {
        label: "nodes ever marked suspect",
        unit: "nodes",
        ours: { contender: "ours", metric: "nodes_suspect" },
      },
      {
        label: "nodes not online at the end",
        unit: "nodes",
        ours: { contender: "ours", metric: "nodes_not_online_at_end" },
      },
      {
        label: "heartbeats sent",
        unit: "/s",
        ours: { contender: "ours", metric: "heartbeats_per_s" },
      },
      cpuRow("registry", "registry_cpu_pct"),
      cpuRow("health monitor", "health_monitor_cpu_pct"),
      cpuRow("scheduler", "scheduler_cpu_pct"),
      cpuRow("coordinator", "coordinator_cpu_pct"),
      cpuRow("nats-server", "nats_cpu_pct"),
      cpuRow(`simulated nodes (${processes} processes)`, "sim_cpu_pct"),
      {
        label: `scheduler RSS with ${q} tasks queued`,
        unit: "MB",
        digits: 1,
        ours: { contender: "ours", metric: "scheduler_rss_mb" },
      },
      {
        label: `time to queue ${q} tasks`,
        unit: "s",
        digits: 1,
        ours: { contender: "ours", metric: "queue_s" },
      },
      {
        label: "placement: place() p99",
        unit: "µs",
        ours: { contender: "ours", metric: "place_p99_us" },
        target: { text: "< 1 ms", met: (a) => a < 1000 },
      },
      {
        label: "placement: place() p50",
        unit: "µs",
        ours: { contender: "ours", metric: "place_p50_us" },
      },
      {
        label: "placement: whole decision p99",
        unit: "µs",
        ours: { contender: "ours", metric: "decision_p99_us" },
        target: { text: "< 1 ms", met: (a) => a < 1000 },
      },
    ],
  };
}
