import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { encode, errorMessage, publishDrain, type ServiceContext, serveNodePing } from "@openclaw/bus";
import {
  CLUSTER_VERSION,
  EMPTY_LOAD,
  envelope,
  NodeDescriptor,
  type NodeHeartbeat,
  type NodeLeave,
  type NodeRegister,
  type SkillInfo,
} from "@openclaw/protocol";
import { Executor } from "./executor.js";
import { MachineLoad, machineAddresses } from "./machine.js";
import { workerMetrics } from "./metrics.js";
import { checkSkillsDir, type SkillScan, scanSkills } from "./skills.js";

/** The most skills one node announces (the protocol's limit). */
const MAX_SKILLS = 1000;

export interface Worker {
  readonly nodeId: string;
  readonly session: string;
  /** The descriptor last registered. */
  descriptor(): NodeDescriptor;
  /** Task ids of the attempts running now. */
  running(): string[];
  /**
   * Drains, then leaves: asks the cluster to place nothing new here, waits up to
   * `worker.drain_timeout` for running attempts to finish, aborts the rest (reported lost,
   * OC-6009, so the scheduler places them again from their last checkpoint without counting
   * them), leaves the cluster (tells the registry) and stops heartbeating.
   */
  stop(reason?: string): Promise<void>;
  /** Cuts a drain in progress short: hands the running attempts back now. */
  hurry(): void;
  /**
   * For a process about to exit in an unknown state (an uncaught exception): stops taking work
   * and heartbeating, and reports every running attempt lost (OC-6009) at once, without waiting
   * for the skills; gives up after `timeoutMs`. Resolves with the number of attempts reported.
   */
  emergencyStop(reason: string, timeoutMs?: number): Promise<number>;
}

/**
 * A worker node: reads its skills folder, registers, heartbeats with its load, re-registers when
 * its skills change or the registry asks, runs the tasks dispatched to it, and leaves cleanly on
 * stop (aborting what runs and reporting it lost, so the scheduler moves it).
 */
export async function startWorker(ctx: ServiceContext): Promise<Worker> {
  const { cluster, config, log } = ctx;
  const { names } = cluster;
  const w = config.worker;
  const nodeId = w.node_id;
  const session = randomUUID();
  const skillsDir = resolve(w.skills_dir);
  const load = new MachineLoad(skillsDir);
  const startedAt = new Date().toISOString();
  const nodeLog = log.child({ node_id: nodeId });
  let stopped = false;

  await checkSkillsDir(skillsDir);
  let scan: SkillScan = await scanSkills(skillsDir);
  reportProblems(scan);

  function reportProblems(current: SkillScan, previous?: SkillScan): void {
    const key = (p: { file: string; message: string }) => `${p.file}:${p.message}`;
    const seen = new Set([...(previous?.problems ?? []), ...(previous?.unrunnable ?? [])].map(key));
    for (const p of current.problems) {
      if (seen.has(key(p))) continue;
      if (p.file === skillsDir) {
        nodeLog.warn({ file: p.file, error_code: "OC-3002" }, `no skills: ${p.message}`);
      } else {
        nodeLog.warn({ file: p.file, error_code: "OC-3001" }, `skill skipped: ${p.file}: ${p.message}`);
      }
    }
    for (const p of current.unrunnable) {
      if (seen.has(key(p))) continue;
      nodeLog.warn(
        { file: p.file, error_code: "OC-6008" },
        `${p.message}: it is announced, but its tasks fail here until the folder gets an index.mjs or a run command`,
      );
    }
  }

  function describe(all: SkillInfo[]): NodeDescriptor {
    const addr = machineAddresses();
    const skills = all.slice(0, MAX_SKILLS);
    if (all.length > MAX_SKILLS) {
      nodeLog.warn(
        { skills: all.length, error_code: "OC-3001" },
        `only the first ${MAX_SKILLS} skills are announced`,
      );
    }
    return NodeDescriptor.parse({
      node_id: nodeId,
      session,
      hostname: hostname().slice(0, 255) || "unknown",
      platform: process.platform,
      arch: process.arch,
      ip_address: w.advertise_ip ?? addr.ip,
      tailscale_ip: addr.tailscaleIp,
      port: w.port,
      max_concurrent_tasks: w.max_concurrent_tasks,
      heartbeat_interval_ms: w.heartbeat_interval,
      labels: w.labels,
      zone: w.zone,
      skills,
      agent_version: CLUSTER_VERSION,
      started_at: startedAt,
    });
  }

  let current = describe(scan.skills);
  const executor = new Executor({
    ctx,
    nodeId,
    log: nodeLog,
    locate: (name) => scan.locations.get(name),
  });

  async function register(why: string): Promise<void> {
    // Never after leave: a register in flight past stop() would bring the node back.
    if (stopped) return;
    const msg: NodeRegister = { ...envelope(ctx.sender), node: current };
    try {
      await cluster.js.publish(names.subjects.nodeMessage(nodeId, "register"), encode(msg), {
        msgID: msg.id,
      });
      nodeLog.info({ skills: current.skills.map((s) => s.name), reason: why }, "registered");
    } catch (err) {
      nodeLog.warn(
        { error: (err as Error).message, error_code: "OC-2001" },
        "registration failed; retrying at next heartbeat",
      );
      pendingRegister = true;
    }
  }
  let pendingRegister = false;

  async function heartbeat(): Promise<void> {
    if (pendingRegister) {
      pendingRegister = false;
      await register("retry");
    }
    const running = executor.running();
    const msg: NodeHeartbeat = {
      ...envelope(ctx.sender),
      node_id: nodeId,
      session,
      load: {
        ...EMPTY_LOAD,
        running_tasks: running.length,
        running_task_ids: running,
        cpu_usage: load.cpu(),
        memory_usage: load.memory(),
        disk_usage: await load.disk(),
      },
    };
    // Fire-and-forget: a lost heartbeat is covered by the next one, and the stream still stores it.
    if (!cluster.nc.isClosed())
      cluster.nc.publish(names.subjects.nodeMessage(nodeId, "heartbeat"), encode(msg));
  }

  async function rescan(): Promise<void> {
    const next = await scanSkills(skillsDir);
    if (next.signature === scan.signature) return;
    reportProblems(next, scan);
    const before = JSON.stringify(scan.skills);
    scan = next;
    if (JSON.stringify(next.skills) === before) return;
    current = describe(next.skills);
    await register("skills changed");
  }

  /** Work in flight, so stop() can wait for it before leaving. */
  const inflight = new Set<Promise<void>>();
  function track(what: string, work: () => Promise<void>): void {
    if (stopped) return;
    const p = work()
      .catch((err) => nodeLog.error({ error: errorMessage(err), error_code: "OC-5000" }, `${what} failed`))
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  const commands = cluster.nc.subscribe(names.subjects.nodeCommand(nodeId, "reregister"), {
    callback: () => track("register", () => register("registry asked")),
  });
  const pings = serveNodePing(cluster.nc, names, { nodeId, session, sender: ctx.sender });
  void (async () => {
    for await (const s of cluster.nc.status()) {
      if (s.type === "reconnect") track("register", () => register("reconnected to NATS"));
    }
  })().catch(() => undefined);

  workerMetrics.slots.set(w.max_concurrent_tasks);
  await register("started");
  await executor.start();
  await heartbeat();
  const beat = setInterval(() => track("heartbeat", heartbeat), w.heartbeat_interval);
  const poll = setInterval(() => track("skills rescan", rescan), w.skills_poll_interval);
  nodeLog.info(
    { skills_dir: skillsDir, skills: scan.skills.length, heartbeat_interval_ms: w.heartbeat_interval },
    "worker started",
  );

  const hurry = new AbortController();
  let stopping: Promise<void> | undefined;

  /** Stop placements here (the registry marks the node drained) and let running attempts end. */
  async function drainSelf(reason: string): Promise<void> {
    const running = executor.running().length;
    // Nothing runs: nothing to drain (dispatches still arriving are taken back at the stop).
    if (running === 0) return;
    // Draining starts here, before the announcement: a dispatch arriving meanwhile goes back.
    // A plain timer (not AbortSignal.timeout/any, whose signals Node 20 may collect unfired).
    const timer = setTimeout(() => hurry.abort(), w.drain_timeout);
    const drained = executor.drain(hurry.signal);
    try {
      await publishDrain(cluster, ctx.sender, { nodeId, draining: true, reason, session });
    } catch (err) {
      nodeLog.warn({ error: errorMessage(err) }, "could not announce the drain; draining anyway");
    }
    nodeLog.info(
      { running, drain_timeout_ms: w.drain_timeout },
      "draining: no new tasks; waiting for the running ones",
    );
    await drained;
    clearTimeout(timer);
    const left = executor.running().length;
    if (left > 0) nodeLog.warn({ handed_back: left }, "drain time is up; handing the rest back");
    else nodeLog.info("drained: every running task finished");
  }

  return {
    nodeId,
    session,
    hurry: () => hurry.abort(),
    descriptor: () => current,
    running: () => executor.running(),
    async emergencyStop(reason, timeoutMs = 1000) {
      stopped = true;
      clearInterval(beat);
      clearInterval(poll);
      commands.unsubscribe();
      pings.unsubscribe();
      const reported = await executor.emergencyStop(reason, timeoutMs);
      nodeLog.warn({ reason, reported }, "emergency stop: running attempts reported lost");
      return reported;
    },
    stop(reason = "shutdown") {
      stopping ??= leave(reason);
      return stopping;
    },
  };

  async function leave(reason: string): Promise<void> {
    if (stopped) return;
    // Heartbeats go on while draining, so the node is not taken for dead meanwhile.
    await drainSelf(reason);
    stopped = true;
    clearInterval(beat);
    clearInterval(poll);
    commands.unsubscribe();
    pings.unsubscribe();
    await executor.stop();
    await Promise.all(inflight);
    const msg: NodeLeave = { ...envelope(ctx.sender), node_id: nodeId, session, reason };
    try {
      await cluster.js.publish(names.subjects.nodeMessage(nodeId, "leave"), encode(msg), {
        msgID: msg.id,
        timeout: 5000,
      });
      nodeLog.info({ reason }, "left the cluster");
    } catch (err) {
      nodeLog.warn(
        { error: (err as Error).message },
        "could not announce leave; the health monitor will time the node out",
      );
    }
  }
}
