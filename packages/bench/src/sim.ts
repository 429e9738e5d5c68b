import type { Cluster } from "@openclaw/bus";
import { countKeys } from "./bus.js";
import { ChildGroup, childScript } from "./children.js";
import type { Cleanup } from "./cleanup.js";
import type { OurCluster } from "./infra.js";
import { type Log, polled, waitForCount } from "./progress.js";

export interface SimNodesOptions {
  /** Simulated nodes in all. */
  nodes: number;
  /** Nodes per child process. @default 250 */
  perProcess?: number;
  /** @default 1000 */
  heartbeatMs?: number;
  /** Skills there are (`sim-skill-0` ...). @default 100 */
  skillPool?: number;
  /** Skills each node has. @default 3 */
  skillsPerNode?: number;
}

/** Node `sim-<i>`'s skills: `perNode` consecutive ones of the pool, starting at `i mod pool`. */
export function simSkills(i: number, skillPool: number, skillsPerNode: number): string[] {
  return Array.from(
    { length: Math.min(skillsPerNode, skillPool) },
    (_, k) => `sim-skill-${(i + k) % skillPool}`,
  );
}

export interface SimNodes {
  group: ChildGroup;
  /** Child processes. */
  processes: number;
}

/**
 * `nodes` simulated worker nodes (sim-nodes.ts), `perProcess` to a child process, registered and
 * heartbeating into `cluster`; resolves once the registry has a record of every one of them.
 */
export async function startSimNodes(
  cleanup: Cleanup,
  cluster: OurCluster,
  bus: Cluster,
  o: SimNodesOptions,
  log: Log,
): Promise<SimNodes> {
  const perProcess = o.perProcess ?? 250;
  const processes = Math.ceil(o.nodes / perProcess);
  const group = await ChildGroup.start(
    cleanup,
    childScript("sim-nodes"),
    (i) => [
      cluster.nats.url,
      cluster.prefix,
      String(i * perProcess),
      String(Math.min(perProcess, o.nodes - i * perProcess)),
      String(o.heartbeatMs ?? 1000),
      String(o.skillPool ?? 100),
      String(o.skillsPerNode ?? 3),
    ],
    processes,
  );
  const registered = polled(() => countKeys(bus, cluster.names.buckets.nodes), 500);
  try {
    await waitForCount(
      () => {
        group.check();
        return registered.value();
      },
      o.nodes,
      { label: "simulated nodes registered", log, stallMs: 30_000 },
    );
  } finally {
    registered.stop();
  }
  return { group, processes };
}
