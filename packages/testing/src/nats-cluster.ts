import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited, natsServerBinary, tcpOpen, trackNatsProcess } from "./nats-server.js";
import { freePort } from "./net.js";
import { StopWaiting, waitFor } from "./wait.js";

export interface NatsClusterOptions {
  /** Number of nats-server nodes. @default 3 */
  size?: number;
  /** The NATS cluster's name. @default a unique one */
  name?: string;
  /** Extra lines for every node's config file. */
  extraConfig?: string;
  /** How long to wait for the cluster (all nodes up, a JetStream meta leader). @default 30_000 */
  readyTimeout?: number;
}

export interface NatsClusterNode {
  /** `server_name`: `n1`, `n2`, ... */
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number;
  /** The monitoring port (`/jsz`, `/healthz`, `/varz`). */
  readonly httpPort: number;
  readonly storeDir: string;
  /** Whether the node's process is running (between start/restart and stop). */
  readonly running: boolean;
}

export interface NatsCluster {
  readonly name: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, in node order. */
  readonly urls: readonly string[];
  /** The client URLs joined with commas (what `communication.nats_url` and the SDK take). */
  readonly url: string;
  /** The `server_name` of the JetStream meta leader, as the running nodes see it (undefined while there is none). */
  metaLeader(): Promise<string | undefined>;
  /** Hard-kills node `i` (SIGKILL), as a crash would. Its store is kept for `restart(i)`. */
  stop(i: number): Promise<void>;
  /**
   * Starts node `i` again on the same ports and store (killing it first if it runs); resolves
   * once it is back in the JetStream meta group (its streams may still be catching up).
   */
  restart(i: number): Promise<void>;
  /** Kills every node and removes every temp dir. */
  stopAll(): Promise<void>;
}

interface NodeState {
  name: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  storeDir: string;
  confFile: string;
  child: ChildProcess | undefined;
  stderr: string;
}

/** `count` distinct ports that were free a moment ago. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function running(node: NodeState): boolean {
  const c = node.child;
  return c !== undefined && c.exitCode === null && c.signalCode === null;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The meta leader as `node` sees it (its `/jsz`), or undefined. */
async function leaderSeenBy(node: NodeState): Promise<string | undefined> {
  const { body } = await getJson(`http://127.0.0.1:${node.httpPort}/jsz`);
  const meta = body.meta_cluster as { leader?: string } | undefined;
  return meta?.leader || undefined;
}

/**
 * Whether `node` is back in the JetStream meta group: it knows the leader, and the leader counts
 * it current. (Not `/healthz`: nats-server 2.9 reports an idle consumer "not current" on a
 * restarted node until it sees traffic.) Throws why not, for the timeout message.
 */
async function rejoined(node: NodeState, nodes: NodeState[]): Promise<boolean> {
  const leaderName = await leaderSeenBy(node);
  if (!leaderName) throw new Error(`${node.name} knows no meta leader`);
  if (leaderName === node.name) return true;
  const leader = nodes.find((n) => n.name === leaderName);
  if (!leader) throw new Error(`${node.name} names an unknown meta leader ${leaderName}`);
  const { body } = await getJson(`http://127.0.0.1:${leader.httpPort}/jsz`);
  const peers = (body.meta_cluster as { replicas?: { name: string; current: boolean }[] } | undefined)
    ?.replicas;
  if (peers?.some((p) => p.name === node.name && p.current)) return true;
  throw new Error(
    `the meta leader ${leaderName} does not count ${node.name} current: ${JSON.stringify(peers)}`,
  );
}

function spawnNode(bin: string, node: NodeState): void {
  const child = spawn(bin, ["-c", node.confFile], { stdio: ["ignore", "ignore", "pipe"] });
  trackNatsProcess(child);
  node.child = child;
  node.stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    node.stderr = (node.stderr + d.toString()).slice(-4000);
  });
}

function gone(node: NodeState): void {
  const c = node.child;
  if (c && (c.exitCode !== null || c.signalCode !== null)) {
    throw new StopWaiting(`nats-server ${node.name} exited (${c.exitCode ?? c.signalCode}): ${node.stderr}`);
  }
}

async function kill(node: NodeState): Promise<void> {
  const c = node.child;
  if (!c) return;
  if (running(node)) c.kill("SIGKILL");
  await exited(c);
}

/**
 * Starts a JetStream cluster of `size` nats-servers on loopback: each with its own client,
 * cluster (route) and monitoring port, a unique `server_name`, a temp file store and routes to
 * all the others. Resolves once every node accepts clients and JetStream has a meta leader.
 *
 * ```ts
 * const nats = await startNatsCluster({ size: 3 });
 * spawnOclaw(["registry", "--nats-url", nats.url], { env: { OPENCLAW_REPLICAS: "3" } });
 * await nats.stop(1); await nats.restart(1); await nats.stopAll();
 * ```
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  // Ports are picked before the servers start (every node must know the others' routes): one
  // taken in between makes a node fail to listen, so try again with new ones.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
}

async function startOnce(options: NatsClusterOptions): Promise<NatsCluster> {
  const bin = natsServerBinary();
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new Error(`size must be a whole number from 1, not ${size}`);
  const readyTimeout = options.readyTimeout ?? 30_000;
  const name = options.name ?? `oc-test-${Math.random().toString(36).slice(2, 8)}`;
  const workDir = mkdtempSync(join(tmpdir(), "oc-nats-cluster-"));
  const ports = await distinctFreePorts(size * 3);
  const nodes: NodeState[] = Array.from({ length: size }, (_, i) => ({
    name: `n${i + 1}`,
    port: ports[i * 3] as number,
    clusterPort: ports[i * 3 + 1] as number,
    httpPort: ports[i * 3 + 2] as number,
    storeDir: join(workDir, `n${i + 1}`, "store"),
    confFile: join(workDir, `n${i + 1}`, "nats.conf"),
    child: undefined,
    stderr: "",
  }));
  for (const node of nodes) {
    mkdirSync(node.storeDir, { recursive: true });
    const routes = nodes
      .filter((other) => other !== node)
      .map((other) => `    "nats-route://127.0.0.1:${other.clusterPort}"`);
    writeFileSync(
      node.confFile,
      [
        `server_name: "${node.name}"`,
        "host: 127.0.0.1",
        `port: ${node.port}`,
        `http: "127.0.0.1:${node.httpPort}"`,
        "max_payload: 8MB",
        `jetstream { store_dir: "${node.storeDir}" }`,
        "cluster {",
        `  name: "${name}"`,
        `  listen: "127.0.0.1:${node.clusterPort}"`,
        "  routes: [",
        ...routes,
        "  ]",
        "}",
        options.extraConfig ?? "",
      ].join("\n"),
    );
  }

  const stopAll = async () => {
    await Promise.all(nodes.map(kill));
    rmSync(workDir, { recursive: true, force: true });
  };

  const waitUp = async (node: NodeState) => {
    await waitFor(
      async () => {
        gone(node);
        return tcpOpen(node.port);
      },
      { timeout: readyTimeout, interval: 50, message: `nats-server ${node.name} did not accept connections` },
    );
  };

  const metaLeader = async (): Promise<string | undefined> => {
    for (const node of nodes.filter(running)) {
      const leader = await leaderSeenBy(node).catch(() => undefined);
      if (leader) return leader;
    }
    return undefined;
  };

  try {
    for (const node of nodes) spawnNode(bin, node);
    await Promise.all(nodes.map(waitUp));
    await waitFor(
      async () => {
        for (const node of nodes) gone(node);
        const seen = await Promise.all(nodes.map((n) => leaderSeenBy(n).catch(() => undefined)));
        // Every node knows the same leader.
        return seen[0] !== undefined && seen.every((l) => l === seen[0]);
      },
      { timeout: readyTimeout, interval: 100, message: "the NATS cluster elected no JetStream meta leader" },
    );
  } catch (err) {
    await stopAll();
    throw err;
  }

  const at = (i: number): NodeState => {
    const node = nodes[i];
    if (!node) throw new Error(`no node ${i} in a cluster of ${size} (nodes are numbered from 0)`);
    return node;
  };

  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  const cluster: NatsCluster = {
    name,
    nodes: nodes.map((node) => ({
      name: node.name,
      url: `nats://127.0.0.1:${node.port}`,
      port: node.port,
      clusterPort: node.clusterPort,
      httpPort: node.httpPort,
      storeDir: node.storeDir,
      get running() {
        return running(node);
      },
    })),
    urls,
    url: urls.join(","),
    metaLeader,
    stop: (i) => kill(at(i)),
    async restart(i) {
      const node = at(i);
      await kill(node);
      spawnNode(bin, node);
      await waitUp(node);
      await waitFor(
        async () => {
          gone(node);
          return rejoined(node, nodes);
        },
        {
          timeout: readyTimeout,
          interval: 100,
          message: `nats-server ${node.name} did not rejoin the cluster`,
        },
      );
    },
    stopAll,
  };
  return cluster;
}
