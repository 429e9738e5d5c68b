import type { Command } from "commander";
import { ApiError } from "../api-client.js";
import { fields, statusPaint } from "../render.js";
import { type ApiOptions, apiFlags, printJson, withApi } from "./api.js";
import { EXIT } from "./service.js";

interface Health {
  total_nodes: number;
  online_nodes: number;
  offline_nodes: number;
  busy_nodes: number;
  nodes_by_status: Record<string, number>;
  total_capacity: number;
  used_capacity: number;
  available_capacity: number;
  capacity_utilization: number;
}
interface Queue {
  pending: number;
  scheduled: number;
  running: number;
  pending_by_priority: Record<string, number>;
  by_skill: { skill: string; pending: number; scheduled: number; running: number }[];
}
interface Leaders {
  leaders: Record<string, { holder: string; term: number } | null>;
}

/** `oclaw status`: nodes online/total, capacity, the queue by priority, and who leads each role. */
export function status(o: ApiOptions): Promise<void> {
  return withApi("status", o, async ({ api, c }) => {
    const [health, queue, leaders] = await Promise.all([
      api.get<Health>("/api/v1/cluster/health"),
      api.get<Queue>("/api/v1/cluster/queue"),
      // A coordinator without NATS cannot read the leases: say so, show the rest.
      api.get<Leaders>("/api/v1/cluster/leaders").catch((err) => {
        if (err instanceof ApiError && err.status === 503) return undefined;
        throw err;
      }),
    ]);
    if (o.json) {
      printJson({ health, queue, leaders: leaders?.leaders ?? null });
      return EXIT.ok;
    }
    const byStatus = Object.entries(health.nodes_by_status)
      .filter(([s, n]) => n > 0 && s !== "online")
      .map(([s, n]) => statusPaint(s, c)(`${n} ${s}`));
    const nodes = `${c.bold(`${health.online_nodes}/${health.total_nodes}`)} online${byStatus.length ? ` (${byStatus.join(", ")})` : ""}`;
    const capacity = `${health.used_capacity}/${health.total_capacity} slots used (${health.capacity_utilization}%), ${health.available_capacity} free`;
    const prio = Object.entries(queue.pending_by_priority)
      .map(([p, n]) => `${p} ${n}`)
      .join(", ");
    const pending = queue.pending > 0 ? c.yellow(`${queue.pending} pending`) : "0 pending";
    const roles = leaders
      ? Object.entries(leaders.leaders)
          .map(([role, l]) => (l ? `${role} ${l.holder} (term ${l.term})` : `${role} ${c.red("none")}`))
          .join(", ")
      : c.dim("unknown (this coordinator has no NATS connection)");
    const top = queue.by_skill
      .filter((s) => s.pending > 0)
      .slice(0, 5)
      .map((s) => `${s.skill} ${s.pending}`)
      .join(", ");
    const lines: [string, string][] = [
      ["nodes", nodes],
      ["capacity", capacity],
      ["queue", `${pending} (${prio}), ${queue.scheduled} scheduled, ${queue.running} running`],
      ...(top ? ([["waiting by skill", top]] as [string, string][]) : []),
      ["leaders", roles],
    ];
    process.stdout.write(`${fields(lines, c)}\n`);
    return EXIT.ok;
  });
}

export function registerStatusCommand(program: Command): void {
  apiFlags(
    program
      .command("status")
      .description("the cluster at a glance: nodes online, capacity, the queue by priority, leaders"),
  ).action((opts: ApiOptions) => status(opts));
}
