import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type NatsServer,
  type ServiceProcess,
  spawnOclaw,
  startNatsServer,
  uniquePrefix,
  waitFor,
} from "@openclaw/testing";

/** Fast timings so fault tests finish in seconds; every value goes through the real config loader. */
export const FAST_ENV = {
  OPENCLAW_HEARTBEAT_INTERVAL: "200ms",
  OPENCLAW_HEARTBEAT_TIMEOUT: "1500ms",
  OPENCLAW_HEARTBEAT_CHECK_INTERVAL: "100ms",
  OPENCLAW_UNHEALTHY_THRESHOLD: "3",
  OPENCLAW_HEALTHY_THRESHOLD: "2",
  OPENCLAW_ELECTION_TIMEOUT: "1500ms",
  OPENCLAW_LEASE_RENEW_INTERVAL: "300ms",
  OPENCLAW_SKILLS_POLL_INTERVAL: "200ms",
  OPENCLAW_LOG_LEVEL: "debug",
};

export interface TestCluster {
  nats: NatsServer;
  prefix: string;
  dir: string;
  env: Record<string, string>;
  processes: ServiceProcess[];
  /** Starts `oclaw <service> ...args` against this cluster. */
  spawn(service: string, args?: string[], env?: Record<string, string>): ServiceProcess;
  /** Starts a coordinator and resolves with its base URL. */
  coordinator(dbName?: string, env?: Record<string, string>): Promise<{ url: string; proc: ServiceProcess }>;
  worker(nodeId: string, skillsDir: string, args?: string[]): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

/** One nats-server and a unique subject prefix; services are started as real child processes. */
export async function startTestCluster(options: { nats?: NatsServer } = {}): Promise<TestCluster> {
  const nats = options.nats ?? (await startNatsServer());
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), "oc-cluster-"));
  const env = { ...FAST_ENV, NATS_URL: nats.url, OPENCLAW_SUBJECT_PREFIX: prefix };
  const processes: ServiceProcess[] = [];
  const cluster: TestCluster = {
    nats,
    prefix,
    dir,
    env,
    processes,
    spawn(service, args = [], extra = {}) {
      const proc = spawnOclaw([service, ...args], { env: { ...env, ...extra }, cwd: dir });
      processes.push(proc);
      return proc;
    },
    async coordinator(dbName = "cluster.db", extra = {}) {
      const proc = cluster.spawn(
        "coordinator",
        ["--host", "127.0.0.1", "--port", "0", "--db-path", join(dir, dbName)],
        extra,
      );
      const line = await proc.waitForLog((l) => l.message === "coordinator listening", 20_000);
      return { url: String(line.url), proc };
    },
    async worker(nodeId, skillsDir, args = []) {
      const proc = cluster.spawn("worker", ["--node-id", nodeId, "--skills-dir", skillsDir, ...args]);
      await proc.waitForLog((l) => l.message === "registered", 20_000);
      return proc;
    },
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
      if (!options.nats) await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export interface ApiNode {
  node_id: string;
  status: string;
  health: string;
  available_skills: string[];
  [key: string]: unknown;
}

export interface ClusterHealth {
  total_nodes: number;
  online_nodes: number;
  offline_nodes: number;
  busy_nodes: number;
  timeout_nodes_count: number;
  total_capacity: number;
  used_capacity: number;
  available_capacity: number;
  capacity_utilization: number;
  [key: string]: unknown;
}

/** Polls the API until `predicate` holds for the node list. */
export function waitForNodes(
  url: string,
  predicate: (nodes: ApiNode[]) => boolean,
  timeout = 15_000,
): Promise<ApiNode[]> {
  return waitFor(
    async () => {
      const { body } = await getJson<ApiNode[]>(`${url}/api/v1/nodes`);
      return predicate(body) ? body : undefined;
    },
    { timeout, message: "node list never matched" },
  );
}

export const EXAMPLE_SKILLS = new URL("../examples/skills", import.meta.url).pathname;
