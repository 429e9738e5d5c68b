import type { Command } from "commander";
import { ago, type Colors, fields, statusPaint, table } from "../render.js";
import { type ApiOptions, apiFlags, printJson, seg, withApi } from "./api.js";
import { EXIT } from "./service.js";

/** The fields of `GET /api/v1/nodes` the CLI shows. */
export interface ApiNode {
  node_id: string;
  hostname: string;
  status: string;
  health: string | null;
  available_skills: string[];
  max_concurrent_tasks: number;
  running_tasks: number;
  cpu_usage: number;
  memory_usage: number;
  disk_usage: number;
  last_heartbeat: string | null;
  registered_at: string;
  labels: Record<string, string>;
  zone: string | null;
  ip_address: string | null;
  tailscale_ip: string | null;
  agent_version: string;
  total_tasks_processed: number;
  successful_tasks: number;
  failed_tasks: number;
  average_execution_time: number;
  drain: { since: string; reason: string; by: string } | null;
  circuit_breaker: { state: string; failures: number; last_error: string | null } | null;
}

interface NodesOptions extends ApiOptions {
  skill?: string;
  status?: string;
}

const list = (items: readonly string[], max = 4) =>
  items.length <= max ? items.join(",") : `${items.slice(0, max).join(",")},+${items.length - max}`;

function nodeRow(n: ApiNode, c: Colors, now: number) {
  const breaker = n.circuit_breaker && n.circuit_breaker.state !== "closed" ? n.circuit_breaker.state : "";
  return [
    n.node_id,
    { text: n.status, paint: statusPaint(n.status, c) },
    { text: n.health ?? "-", paint: statusPaint(n.health ?? "", c) },
    `${n.running_tasks}/${n.max_concurrent_tasks}`,
    `${Math.round(n.cpu_usage)}%`,
    list(n.available_skills),
    list(
      Object.entries(n.labels).map(([k, v]) => `${k}=${v}`),
      3,
    ) || "-",
    { text: breaker || "-", paint: breaker ? c.red : undefined },
    ago(n.last_heartbeat, now),
  ];
}

/** `oclaw nodes [--skill S] [--status S]`: every node, one a line. */
export function nodes(o: NodesOptions): Promise<void> {
  return withApi("nodes", o, async ({ api, c }) => {
    const status = o.status ? `?status=${seg(o.status)}` : "";
    const rows = o.skill
      ? await api.get<ApiNode[]>(`/api/v1/nodes/skills/${seg(o.skill)}${status || "?status=any"}`)
      : await api.get<ApiNode[]>(`/api/v1/nodes${status}`);
    if (o.json) {
      printJson(rows);
      return EXIT.ok;
    }
    if (rows.length === 0) {
      process.stderr.write("no nodes match\n");
      return EXIT.ok;
    }
    const now = Date.now();
    const header = [
      "NODE",
      "STATUS",
      "HEALTH",
      "TASKS",
      "CPU",
      "SKILLS",
      "LABELS",
      "BREAKER",
      "LAST HEARTBEAT",
    ];
    process.stdout.write(
      `${table(
        header,
        rows.map((n) => nodeRow(n, c, now)),
        c,
      )}\n`,
    );
    return EXIT.ok;
  });
}

interface NodeEvent {
  kind: string;
  at: string;
  reason?: string;
}

/** `oclaw node <id>`: one node in full, with its last events. */
export function node(id: string, o: ApiOptions): Promise<void> {
  return withApi("node", o, async ({ api, c }) => {
    const [n, events] = await Promise.all([
      api.get<ApiNode>(`/api/v1/nodes/${seg(id)}`),
      api.get<NodeEvent[]>(`/api/v1/nodes/${seg(id)}/events?limit=10`),
    ]);
    if (o.json) {
      printJson({ ...n, events });
      return EXIT.ok;
    }
    const now = Date.now();
    const b = n.circuit_breaker;
    const pairs: [string, string][] = [
      ["node", c.bold(n.node_id)],
      ["status", `${statusPaint(n.status, c)(n.status)} (health ${n.health ?? "not judged yet"})`],
      [
        "host",
        `${n.hostname} ${n.ip_address ?? ""}${n.tailscale_ip ? ` tailscale ${n.tailscale_ip}` : ""}`.trim(),
      ],
      ["zone", n.zone ?? "-"],
      [
        "labels",
        Object.entries(n.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(", ") || "-",
      ],
      ["skills", n.available_skills.join(", ") || "-"],
      ["tasks", `${n.running_tasks} running of ${n.max_concurrent_tasks}`],
      ["load", `cpu ${n.cpu_usage}%, memory ${n.memory_usage}%, disk ${n.disk_usage}%`],
      [
        "done",
        `${n.total_tasks_processed} (${n.successful_tasks} ok, ${n.failed_tasks} failed), ${n.average_execution_time.toFixed(2)} s on average`,
      ],
      ["drain", n.drain ? c.yellow(`since ${n.drain.since} by ${n.drain.by}: ${n.drain.reason}`) : "-"],
      [
        "breaker",
        b
          ? `${statusPaint(b.state, c)(b.state)}, ${b.failures} failures${b.last_error ? `, last: ${b.last_error}` : ""}`
          : "closed",
      ],
      ["heartbeat", ago(n.last_heartbeat, now)],
      ["registered", n.registered_at],
      ["agent", n.agent_version],
    ];
    process.stdout.write(`${fields(pairs, c)}\n`);
    if (events.length > 0) {
      const rows = events.map((e) => [e.at, { text: e.kind, paint: statusPaint(e.kind, c) }, e.reason ?? ""]);
      process.stdout.write(`\n${table(["AT", "EVENT", "REASON"], rows, c)}\n`);
    }
    return EXIT.ok;
  });
}

export function registerNodeCommands(program: Command): void {
  apiFlags(
    program
      .command("nodes")
      .description("list the nodes: status, health, tasks, skills, labels, breaker, last heartbeat")
      .option("--skill <skill>", "only nodes that have this skill")
      .option("--status <status>", "only nodes in this status: online|offline|busy|maintenance|error"),
  ).action((opts: NodesOptions) => nodes(opts));
  apiFlags(
    program.command("node").description("one node in full, with its last events").argument("<id>", "node id"),
  ).action((id: string, opts: ApiOptions) => node(id, opts));
}
