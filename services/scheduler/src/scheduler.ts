import {
  encode,
  errorMessage,
  LeaderLease,
  publishLeaderElected,
  type ServiceContext,
  serveElection,
} from "@openclaw/bus";
import { taskDefaults } from "@openclaw/config";
import {
  fieldIssues,
  formatIssues,
  resolveSubmission,
  type SchedulerSettings,
  TaskSubmission,
} from "@openclaw/protocol";
import { LeaderState } from "./leader.js";
import { schedulerMetrics } from "./metrics.js";
import { NodeTable } from "./node-table.js";

export interface Scheduler {
  isLeader(): boolean;
  stop(): Promise<void>;
}

export const SCHEDULER_ROLE = "scheduler";

/**
 * The scheduler: active + standby by leader lease. Every instance keeps the node table warm; the
 * leader rebuilds the live tasks from the `tasks` bucket and places them.
 */
export async function startScheduler(ctx: ServiceContext): Promise<Scheduler> {
  const { cluster, config, log } = ctx;
  let leader: LeaderState | undefined;
  const nodes = new NodeTable(ctx, (_id, lost) => {
    leader?.requestSchedule();
    if (lost) leader?.requestCheck();
  });
  await nodes.ready;

  const lease = new LeaderLease({
    kv: cluster.kv.leases,
    role: SCHEDULER_ROLE,
    holder: ctx.sender.instance,
    ttlMs: config.cluster.election_timeout,
    renewMs: config.cluster.lease_renew_interval,
    log,
    onElected: async (term) => {
      // Leadership counts only once onElected returns, so the state is fenced by the term it was elected in.
      const state = new LeaderState(ctx, nodes, () => lease.term === term);
      await state.rebuild();
      // A state of an earlier term whose loss was never announced (lost during its takeover) must
      // not stay in charge beside this one. This one runs only if its term still holds then.
      const previous = leader;
      leader = state;
      if (previous && previous !== state) void previous.stop();
      // Clients (the SDK, the CLI) fill their tasks with the cluster's defaults and honour its queue limit.
      const settings: SchedulerSettings = {
        task_defaults: taskDefaults(config),
        max_pending: config.scheduler.max_pending,
        strategy: config.scheduler.strategy,
      };
      await cluster.kv.scheduler
        .put("settings", encode(settings))
        .catch((err) => log.warn({ error: errorMessage(err) }, "could not publish the scheduler settings"));
      await publishLeaderElected(ctx, SCHEDULER_ROLE, term).catch((err) =>
        log.warn({ error: errorMessage(err) }, "could not publish leader_elected"),
      );
      // Leadership is active once this callback returns: start consuming and placing right after.
      setTimeout(() => state.run(), 0);
      schedulerMetrics.leader.set(1);
      schedulerMetrics.elections.inc();
    },
    onLost: async () => {
      schedulerMetrics.leader.set(0);
      // A standby's queue is empty: figures kept from its time as leader would count twice.
      schedulerMetrics.queueDepth.reset();
      const state = leader;
      leader = undefined;
      await state?.stop();
    },
  });

  // A dry run for the SDK's TaskRouter: where would this task go now? Only the leader answers.
  const routes = cluster.nc.subscribe(cluster.names.subjects.route, {
    callback: (err, msg) => {
      if (err || !leader || !lease.isLeader()) return;
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder().decode(msg.data));
      } catch {
        msg.respond(encode({ error: "not JSON" }));
        return;
      }
      const parsed = TaskSubmission.safeParse(body);
      if (!parsed.success) {
        msg.respond(encode({ error: formatIssues(fieldIssues(parsed.error)) }));
        return;
      }
      const resolved = resolveSubmission(parsed.data, taskDefaults(config));
      msg.respond(
        encode(
          resolved.ok ? leader.route(resolved.spec) : { error: `${resolved.field}: ${resolved.message}` },
        ),
      );
    },
  });

  serveElection(ctx, lease); // oclaw elect: the leader steps down on request
  lease.start();
  log.info({ strategy: config.scheduler.strategy }, "scheduler started");
  return {
    isLeader: () => lease.isLeader(),
    async stop() {
      routes.unsubscribe();
      await lease.stop();
      await nodes.stop();
    },
  };
}
