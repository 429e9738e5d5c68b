import { ChildGroup, childScript } from "../children.js";
import { sleep } from "../clock.js";
import { type Contender, type RowSpec, type RunContext, type Scenario, setup } from "../harness.js";
import { startOurCluster, startRedis } from "../infra.js";
import { nodeProcessOf, rssMb } from "../proc.js";

export interface MemoryOptions {
  /** How long the services sit idle, once up, before they are measured. @default 5000 */
  idleMs?: number;
  /** @default 2 */
  workers?: number;
  /** @default 100 */
  concurrency?: number;
}

const SERVICES = ["registry", "health-monitor", "scheduler", "coordinator"] as const;
const key = (name: string) => `${name.replace(/-/g, "_")}_mb`;

/**
 * 6. Memory: resident size of each of our services once started and idle, next to BullMQ's idle
 * worker process; the brokers (nats-server, redis-server) for reference.
 */
export function memoryScenario(o: MemoryOptions = {}): Scenario {
  const idleMs = o.idleMs ?? 5000;
  const workers = o.workers ?? 2;
  const concurrency = o.concurrency ?? 100;

  const ours: Contender = {
    id: "ours",
    label: "OpenClaw",
    async run({ cleanup, log }: RunContext) {
      const cluster = await setup(() => startOurCluster(cleanup, { workers, concurrency, log }));
      await sleep(idleMs);
      const m: Record<string, number> = {};
      for (const s of cluster.services) {
        const mb = rssMb(nodeProcessOf(s.proc.pid));
        // The larger worker: the target holds for every worker.
        if (s.name.startsWith("worker")) m.worker_mb = Math.max(m.worker_mb ?? 0, mb);
        else m[key(s.name)] = mb;
      }
      m.broker_mb = rssMb(cluster.nats.process.pid ?? -1);
      return m;
    },
  };

  const bullmq: Contender = {
    id: "bullmq",
    label: "BullMQ",
    async run({ cleanup }: RunContext) {
      const { redis, group } = await setup(async () => {
        const redis = await startRedis(cleanup);
        const group = await ChildGroup.start(
          cleanup,
          childScript("bullmq-worker"),
          [String(redis.port), "bench", String(concurrency)],
          workers,
        );
        return { redis, group };
      });
      await sleep(idleMs);
      return {
        worker_mb: Math.max(...group.pids().map(rssMb)),
        broker_mb: rssMb(redis.pid),
      };
    },
  };

  const serviceTarget = { text: "< 150 MB", met: (a: number) => a < 150 };
  const rows: RowSpec[] = [
    ...SERVICES.map(
      (name): RowSpec => ({
        label: name,
        unit: "MB",
        digits: 1,
        ours: { contender: "ours", metric: key(name) },
        target: serviceTarget,
      }),
    ),
    {
      label: `worker (larger of ${workers})`,
      unit: "MB",
      digits: 1,
      ours: { contender: "ours", metric: "worker_mb" },
      baseline: { contender: "bullmq", metric: "worker_mb" },
      target: { text: "< 100 MB", met: (a) => a < 100 },
    },
    {
      label: "broker (nats-server / redis-server)",
      unit: "MB",
      digits: 1,
      ours: { contender: "ours", metric: "broker_mb" },
      baseline: { contender: "bullmq", metric: "broker_mb" },
    },
  ];

  return {
    id: "memory",
    title: "6. Idle memory",
    description: [
      `Resident size (VmRSS from /proc/<pid>/status) of each service's node process, started fresh (${workers} workers at \`--max-concurrent-tasks ${concurrency}\`, every worker online, a scheduler leading) and then idle for ${idleMs / 1000} s, before any task ran.`,
      `**BullMQ**: ${workers} idle worker processes (\`concurrency: ${concurrency}\`) connected to a fresh redis-server. The broker row compares nats-server (with JetStream and our streams and buckets) with redis-server.`,
    ].join("\n\n"),
    contenders: [ours, bullmq],
    rows,
  };
}
