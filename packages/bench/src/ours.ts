import type { Cleanup } from "./cleanup.js";
import { Completions } from "./completions.js";
import { setup } from "./harness.js";
import { type OurCluster, startOurCluster } from "./infra.js";
import { type Log, waitForCount } from "./progress.js";

export interface Ours {
  cluster: OurCluster;
  completions: Completions;
}

/**
 * Our cluster ready to be measured: every service up, the completion watcher subscribed, and one
 * task run end to end (placement, a worker thread, the result), so the clock starts on a warm system.
 */
export function startOurs(
  cleanup: Cleanup,
  o: { workers: number; concurrency: number; log: Log; samples: boolean },
): Promise<Ours> {
  return setup(() => boot(cleanup, o));
}

async function boot(
  cleanup: Cleanup,
  o: { workers: number; concurrency: number; log: Log; samples: boolean },
): Promise<Ours> {
  const cluster = await startOurCluster(cleanup, o);
  const completions = await Completions.watch(cleanup, cluster.nats.url, cluster.names, {
    samples: o.samples,
  });
  await cluster.sdk.submitTask({ type: "noop" });
  await waitForCount(() => servicesAlive(cluster, completions), 1, {
    label: "OpenClaw warm-up",
    log: o.log,
    stallMs: 30_000,
  });
  completions.reset();
  return { cluster, completions };
}

/** Completions so far; throws at once if a service process died (the run cannot finish then). */
export function servicesAlive(cluster: OurCluster, completions: Completions): number {
  checkServices(cluster);
  return completions.count;
}

/** Throws if a service process exited, other than those named in `killed` (the run killed them). */
export function checkServices(cluster: OurCluster, killed: ReadonlySet<string> = new Set()): void {
  for (const s of cluster.services) {
    if (killed.has(s.name)) continue;
    const code = s.proc.child.exitCode ?? s.proc.child.signalCode;
    if (code !== null) throw new Error(`${s.name} exited (${code}): ${s.proc.stderr().slice(-1000)}`);
  }
}
