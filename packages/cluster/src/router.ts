import { encode } from "@openclaw/bus";
import { OcError, type PlacementStrategy } from "@openclaw/protocol";
import type { OpenClawCluster } from "./cluster.js";
import { type TaskInput, toSubmission } from "./task-input.js";

export interface RouteOptions {
  strategy?: PlacementStrategy;
  constraints?: {
    requireGPU?: boolean;
    /** Prefer nodes in this client's zone (`zone` option, `OPENCLAW_ZONE`, or the config's worker.zone). */
    preferSameZone?: boolean;
    /** Accepted, but no per-node network latency is measured yet, so it does not filter. */
    maxLatency?: string | number;
    labels?: Record<string, string>;
    zone?: string;
  };
}

/**
 * Which node would the scheduler choose for this task now? A dry run:
 * nothing is dispatched. Resolves with a node id, or null when no node fits (see `lastReason`).
 */
export class TaskRouter {
  readonly #cluster: OpenClawCluster;
  /** Why the last route found no node, if it did not. */
  lastReason: string | null = null;

  constructor(cluster: OpenClawCluster) {
    this.#cluster = cluster;
  }

  async route(task: TaskInput & { needsGPU?: boolean }, options: RouteOptions = {}): Promise<string | null> {
    const c = options.constraints ?? {};
    const submission = toSubmission(
      {
        type: task.type,
        skills: task.skills,
        requireNode: task.requireNode,
        affinityKey: task.affinityKey,
        strategy: options.strategy ?? task.strategy,
        constraints: {
          ...task.constraints,
          ...(c.labels ? { labels: c.labels } : {}),
          ...(c.zone ? { zone: c.zone } : {}),
          requireGPU: c.requireGPU ?? task.constraints?.requireGPU ?? task.needsGPU,
        },
      },
      { preferZone: c.preferSameZone ? this.#cluster.options.zone : null },
    );
    const { cluster } = await this.#cluster.connection();
    let reply: { node_id?: string | null; reason?: string | null; error?: string };
    try {
      const msg = await cluster.nc.request(cluster.names.subjects.route, encode(submission), {
        timeout: 3000,
      });
      reply = JSON.parse(new TextDecoder().decode(msg.data));
    } catch (err) {
      throw new OcError(
        "OC-5003",
        `no scheduler answered the route request (is one running and leading?): ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (reply.error) throw new OcError("OC-4000", `invalid task: ${reply.error}`);
    this.lastReason = reply.reason ?? null;
    return reply.node_id ?? null;
  }
}
