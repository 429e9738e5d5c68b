import { LeaderLease, publishLeaderElected, type ServiceContext } from "@openclaw/bus";

export interface Scheduler {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export const SCHEDULER_ROLE = "scheduler";

/**
 * The scheduler. For now it only takes part in leader election (active + standby by lease);
 * placement arrives with tasks.
 */
export async function startScheduler(ctx: ServiceContext): Promise<Scheduler> {
  const { cluster, config, log } = ctx;
  const lease = new LeaderLease({
    kv: cluster.kv.leases,
    role: SCHEDULER_ROLE,
    holder: ctx.sender.instance,
    ttlMs: config.cluster.election_timeout,
    renewMs: config.cluster.lease_renew_interval,
    log,
    onElected: (term) =>
      publishLeaderElected(ctx, SCHEDULER_ROLE, term).catch((err) =>
        log.warn({ error: (err as Error).message }, "could not publish leader_elected"),
      ),
  });
  lease.start();
  log.info("scheduler started");
  return {
    isLeader: () => lease.isLeader(),
    stop: () => lease.stop(),
  };
}
