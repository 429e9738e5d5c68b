/**
 * Simulated worker nodes, many per process (`node sim-nodes.js <nats url> <prefix> <first> <count>
 * <heartbeat ms> <skill pool> <skills per node>`): each registers and heartbeats exactly as a
 * worker does (the same `NodeRegister` through JetStream, the same fire-and-forget
 * `NodeHeartbeat` on its node subject, every `heartbeat ms`), but runs nothing. Node `sim-<i>`
 * has `skills per node` consecutive skills of `sim-skill-0` ... `sim-skill-<pool - 1>`, starting
 * at `i mod pool`. Their heartbeats are spread evenly over the interval; each answers the health
 * monitor's pings as a worker does. Reports `ready` once
 * every register is stored, then each heartbeat sent as one completion.
 */
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { encode, serveNodePing } from "@openclaw/bus";
import {
  CLUSTER_VERSION,
  EMPTY_LOAD,
  envelope,
  type NodeDescriptor,
  type NodeHeartbeat,
  type NodeRegister,
  names,
} from "@openclaw/protocol";
import { createReporter } from "./child-protocol.js";
import { now } from "./clock.js";
import { simSkills } from "./sim.js";

const [url, prefix, firstArg, countArg, intervalArg, poolArg, perNodeArg] = process.argv.slice(2);
const first = Number(firstArg);
const count = Number(countArg);
const intervalMs = Number(intervalArg);
const pool = Number(poolArg);
const perNode = Number(perNodeArg);
const n = names(prefix);
const reporter = createReporter({ everyMs: 200 });
const timers: NodeJS.Timeout[] = [];

function descriptor(i: number, startedAt: string): NodeDescriptor {
  return {
    node_id: `sim-${i}`,
    session: randomUUID(),
    hostname: `sim-host-${i}`,
    platform: process.platform,
    arch: process.arch,
    ip_address: "127.0.0.1",
    tailscale_ip: null,
    port: 18789,
    max_concurrent_tasks: 5,
    heartbeat_interval_ms: intervalMs,
    labels: {},
    zone: null,
    skills: simSkills(i, pool, perNode).map((name) => ({
      name,
      version: "1.0.0",
      description: "a simulated skill (benchmarks)",
    })),
    agent_version: CLUSTER_VERSION,
    started_at: startedAt,
  };
}

try {
  const nc = await connect({ servers: url, noAsyncTraces: true, name: `bench-sim-nodes-${first}` });
  const js = jetstream(nc);
  const startedAt = new Date().toISOString();
  const nodes = Array.from({ length: count }, (_, k) => descriptor(first + k, startedAt));
  process.on("message", (msg) => {
    if ((msg as { type?: string }).type !== "stop") return;
    for (const t of timers) clearTimeout(t);
    void (async () => {
      await reporter.close();
      await nc.drain().catch(() => undefined);
      process.exit(0);
    })();
  });
  // Registers as a worker sends them (stored by JetStream, deduplicated by id), 50 in flight.
  for (let k = 0; k < nodes.length; k += 50) {
    await Promise.all(
      nodes.slice(k, k + 50).map((node) => {
        const sender = { service: "worker", instance: node.node_id };
        const msg: NodeRegister = { ...envelope(sender), node };
        return js.publish(n.subjects.nodeMessage(node.node_id, "register"), encode(msg), { msgID: msg.id });
      }),
    );
  }
  for (const node of nodes) {
    const sender = { service: "worker", instance: node.node_id };
    serveNodePing(nc, n, { nodeId: node.node_id, session: node.session, sender });
  }
  const beat = (node: NodeDescriptor) => {
    const msg: NodeHeartbeat = {
      ...envelope({ service: "worker", instance: node.node_id }),
      node_id: node.node_id,
      session: node.session,
      load: { ...EMPTY_LOAD, cpu_usage: 1, memory_usage: 10, disk_usage: 50 },
    };
    if (nc.isClosed()) return;
    nc.publish(n.subjects.nodeMessage(node.node_id, "heartbeat"), encode(msg));
    reporter.done(now());
  };
  // A first heartbeat at once (as a worker sends one right after registering), then one each
  // interval, the nodes' phases spread evenly over it.
  nodes.forEach((node, k) => {
    beat(node);
    const phase = Math.floor((k / nodes.length) * intervalMs);
    timers.push(
      setTimeout(() => {
        beat(node);
        const t = setInterval(() => beat(node), intervalMs);
        timers.push(t);
      }, phase),
    );
  });
  await nc.flush();
  reporter.ready();
} catch (err) {
  reporter.error(err);
  // A moment for the report to leave over IPC.
  setTimeout(() => process.exit(1), 200);
}
