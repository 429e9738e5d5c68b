import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OpenClawCluster } from "@openclaw/cluster";
import { type Names, names } from "@openclaw/protocol";
import {
  freePort,
  type NatsServer,
  type ServiceProcess,
  StopWaiting,
  spawnOclaw,
  startNatsServer,
  uniquePrefix,
  waitFor,
} from "@openclaw/testing";
import { type Cleanup, stopChild, trackChild } from "./cleanup.js";
import type { Log } from "./progress.js";

/** Ports other servers on a developer's machine use: never ours. */
const RESERVED_PORTS = new Set([4222, 6222, 8222, 6379, 8888]);

/** A free loopback port that is none of the well-known ones. */
export async function safePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!RESERVED_PORTS.has(port)) return port;
  }
}

export function tempDir(cleanup: Cleanup, what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `oc-bench-${what}-`));
  cleanup.defer(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh nats-server with JetStream on file storage in a temp dir, on a port it picks itself. */
export async function startNats(cleanup: Cleanup): Promise<NatsServer> {
  const nats = await startNatsServer();
  cleanup.defer("nats-server", () => nats.stop());
  return nats;
}

export interface Redis {
  port: number;
  pid: number;
}

/**
 * A fresh redis-server (from PATH) on a free loopback port, persisting nothing (`--save ""`,
 * `--appendonly no`), its working dir a temp dir; killed by `cleanup`.
 */
export async function startRedis(cleanup: Cleanup): Promise<Redis> {
  const bin = process.env.REDIS_SERVER_BIN ?? "redis-server";
  const dir = tempDir(cleanup, "redis");
  for (let attempt = 1; ; attempt++) {
    const port = await safePort();
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
    const child = spawn(bin, [...args, "--dir", dir], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
    trackChild(child);
    let out = "";
    const collect = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    let spawnError: Error | undefined;
    child.once("error", (err) => {
      spawnError = err;
    });
    try {
      await waitFor(
        async () => {
          if (spawnError) {
            throw new StopWaiting(`cannot run ${bin} (install redis-server): ${spawnError.message}`);
          }
          if (child.exitCode !== null)
            throw new StopWaiting(`redis-server exited (${child.exitCode}): ${out}`);
          return /Ready to accept connections/.test(out);
        },
        { timeout: 10_000, interval: 20, message: "redis-server did not start" },
      );
    } catch (err) {
      await stopChild(child, 1000);
      // The port was taken between picking and binding: try another.
      if (attempt < 3 && /Address already in use/i.test(out)) continue;
      throw err;
    }
    child.stdout?.off("data", collect);
    child.stdout?.resume();
    cleanup.defer("redis-server", () => stopChild(child));
    return { port, pid: child.pid ?? -1 };
  }
}

/**
 * The bench's skill: `noop` returns at once, with its start time (`t`) and the submit time the
 * latency scenario put in the payload (`s`), so both travel back in the `completed` event.
 */
export function writeNoopSkill(skillsDir: string): void {
  const dir = join(skillsDir, "noop");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "SKILL.md"),
    "---\nname: noop\ndescription: Does nothing; returns its start time (benchmarks)\nversion: 1.0.0\nentry: index.mjs\n---\n",
  );
  writeFileSync(
    join(dir, "index.mjs"),
    [
      "/** Returns at once: when it started (t) and the submit time from the payload (s). */",
      "export function run(input) {",
      "  const t = performance.timeOrigin + performance.now();",
      '  return { s: typeof input?.s === "number" ? input.s : null, t };',
      "}",
      "",
    ].join("\n"),
  );
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Each service's last log line and latest warnings, for a failure message: where each one got to. */
function problems(services: { name: string; proc: ServiceProcess }[]): string {
  const text = (l: Record<string, unknown>) =>
    `${String(l.level ?? "")} ${String(l.message ?? l.raw ?? "")}${l.error_code ? ` [${String(l.error_code)}]` : ""}`;
  return services
    .map((s) => {
      const warnings = s.proc.logs
        .filter((l) => ["warn", "error", "fatal"].includes(String(l.level)))
        .slice(-2);
      const last = s.proc.logs.at(-1);
      const lines = [...warnings, ...(last && !warnings.includes(last) ? [last] : [])];
      return `${s.name}: ${lines.length > 0 ? lines.map(text).join("; ") : "no log line"}`;
    })
    .join(" | ");
}

/** The repository's example skills (this file is packages/bench/dist/infra.js). */
export const EXAMPLE_SKILLS_DIR = fileURLToPath(new URL("../../../examples/skills", import.meta.url));

export interface OurClusterOptions {
  workers: number;
  /** Each worker's `--max-concurrent-tasks`. */
  concurrency: number;
  log: Log;
  /** More environment for every service. */
  env?: Record<string, string>;
  /** Scheduler processes (one leads, the others stand by), `--instance bench-scheduler-<n>`. @default 1 */
  schedulers?: number;
  /** Example skills (folders of examples/skills) the workers get besides `noop`, e.g. `["sleep"]`. */
  exampleSkills?: string[];
}

export interface OurCluster {
  nats: NatsServer;
  prefix: string;
  names: Names;
  /** An SDK client of this cluster (closed by the cleanup). */
  sdk: OpenClawCluster;
  /** Every service process, by name (`registry`, ..., `worker-1`). */
  services: { name: string; proc: ServiceProcess }[];
  apiUrl: string;
  /**
   * Starts one more worker (`worker-<n>`, node id `bench-w<n>`, the same skills and concurrency),
   * stopped with the rest; resolves once it logged `registered`.
   */
  addWorker(): Promise<{ name: string; nodeId: string; proc: ServiceProcess }>;
}

/** The instance name of the n-th scheduler (1-based), as `readLeaders` reports its holder. */
export const schedulerInstance = (n: number) => `bench-scheduler-${n}`;

/**
 * A whole cluster as deployed: a fresh nats-server, then registry, health monitor, scheduler,
 * coordinator and `workers` workers, each its own `oclaw` process with default settings, except
 * a queue limit above any bench size. Resolves once every worker is online and a scheduler leads.
 */
export async function startOurCluster(cleanup: Cleanup, o: OurClusterOptions): Promise<OurCluster> {
  const nats = await startNats(cleanup);
  const dir = tempDir(cleanup, "cluster");
  const skillsDir = join(dir, "skills");
  writeNoopSkill(skillsDir);
  for (const skill of o.exampleSkills ?? []) {
    cpSync(join(EXAMPLE_SKILLS_DIR, skill), join(skillsDir, skill), { recursive: true });
  }
  const prefix = uniquePrefix("bench");
  const env = {
    NATS_URL: nats.url,
    OPENCLAW_SUBJECT_PREFIX: prefix,
    // The default (10,000) would refuse a bulk submission of 50,000 with OC-4029.
    OPENCLAW_MAX_PENDING: "10000000",
    OPENCLAW_DRAIN_TIMEOUT: "2s",
    ...o.env,
  };
  const services: { name: string; proc: ServiceProcess }[] = [];
  const spawnService = (name: string, args: string[]) => {
    const proc = spawnOclaw(args, { env, cwd: dir });
    services.push({ name, proc });
    return proc;
  };
  cleanup.defer("our services", async () => {
    clearInterval(forget);
    // Workers first (they drain and leave), then the rest together.
    const workers = services.filter((s) => s.name.startsWith("worker"));
    await Promise.all(workers.map((s) => s.proc.stop()));
    await Promise.all(services.filter((s) => !workers.includes(s)).map((s) => s.proc.stop()));
  });
  // The harness parses every log line into memory (a worker logs each task): keep only recent ones.
  const forget = setInterval(() => {
    for (const s of services) if (s.proc.logs.length > 1000) s.proc.logs.splice(0, s.proc.logs.length - 100);
  }, 1000);

  spawnService("registry", ["registry"]);
  spawnService("health-monitor", ["health-monitor"]);
  for (let i = 1; i <= (o.schedulers ?? 1); i++) {
    spawnService(i === 1 ? "scheduler" : `scheduler-${i}`, ["scheduler", "--instance", schedulerInstance(i)]);
  }
  const coordinator = spawnService("coordinator", [
    "coordinator",
    // Port 0: the API takes a free port itself and logs its URL.
    ...["--host", "127.0.0.1", "--port", "0", "--db-path", join(dir, "cluster.db")],
  ]);
  let workerCount = 0;
  const spawnWorker = () => {
    workerCount += 1;
    const nodeId = `bench-w${workerCount}`;
    const name = `worker-${workerCount}`;
    const proc = spawnService(name, [
      "worker",
      ...["--node-id", nodeId, "--skills-dir", skillsDir],
      ...["--max-concurrent-tasks", String(o.concurrency)],
    ]);
    return { name, nodeId, proc };
  };
  const workers = Array.from({ length: o.workers }, () => spawnWorker().proc);
  const [listening] = await Promise.all([
    coordinator.waitForLog((l) => l.message === "coordinator listening", 30_000),
    ...workers.map((w) => w.waitForLog((l) => l.message === "registered", 30_000)),
  ]);

  const sdk = new OpenClawCluster({ natsUrl: nats.url, prefix });
  cleanup.defer("SDK client", () => sdk.close());
  let seen = "no status read yet";
  try {
    await waitFor(
      async () => {
        for (const s of services) {
          const code = s.proc.child.exitCode ?? s.proc.child.signalCode;
          if (code !== null)
            throw new StopWaiting(`${s.name} exited (${code}): ${s.proc.stderr().slice(-1000)}`);
        }
        // Bounded, so one stuck read cannot outlast the deadline.
        const status = await withTimeout(sdk.getStatus(), 5000, "getStatus");
        seen = `${status.activeNodes}/${o.workers} workers online, scheduler leader: ${status.scheduler ?? "none"}`;
        return status.activeNodes === o.workers && status.scheduler !== null;
      },
      {
        timeout: 30_000,
        interval: 100,
        message: "the cluster did not come up (workers online, a scheduler leading)",
      },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${seen}; services: ${problems(services)}`);
  }
  const addWorker = async () => {
    const w = spawnWorker();
    await w.proc.waitForLog((l) => l.message === "registered", 30_000);
    return w;
  };
  return { nats, prefix, names: names(prefix), sdk, services, apiUrl: String(listening.url), addWorker };
}
