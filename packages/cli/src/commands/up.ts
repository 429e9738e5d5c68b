import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LOG_LEVELS } from "@openclaw/log";
import type { Command } from "commander";
import { addConfigFlags, configFlagValues } from "../flags.js";
import { ensureLocalNats, forgetPidFile, type LocalNats, UpError } from "../local-nats.js";
import { describeExit, Supervisor, terminate } from "../supervisor.js";
import { forgetUpContext, writeUpContext } from "../up-context.js";
import { EXIT, loadServiceConfig } from "./service.js";

const EXAMPLE_SKILLS = fileURLToPath(new URL("../../../../examples/skills", import.meta.url));
/** Start order; stopped in reverse. */
const ORDER = ["registry", "health-monitor", "scheduler", "coordinator", "worker"] as const;
/**
 * With a metrics port N, each service gets its own: N, N+1, ... in this order (the systemd units'
 * 9464-9467 for N = 9464). The coordinator serves its metrics on the API port.
 */
const METRICS_ORDER = ["scheduler", "health-monitor", "registry", "worker"] as const;
/** How long a service gets to stop after SIGTERM before it is killed. */
const GRACE_MS = 10_000;
/** The same once NATS is gone: a service cannot say goodbye over it anyway. */
const NO_NATS_GRACE_MS = 3_000;

type UpOptions = Record<string, unknown> & {
  config?: string;
  secrets?: string;
  skillsDir?: string;
  nodeId?: string;
  dataDir: string;
  verbose?: boolean;
};

/** How the banner spells the CLI: `npx oclaw` finds this repository's copy without it on PATH. */
const OCLAW = "npx oclaw";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function complain(line: string): void {
  process.stderr.write(`oclaw up: ${line}\n`);
}

/** Starts a whole local cluster: NATS if none answers, every service, one worker with example skills. */
export async function up(options: UpOptions): Promise<void> {
  // A closed terminal must not crash `up` half way through stopping the cluster.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);

  const config = loadServiceConfig("coordinator", options, "up");
  const dataDir = resolve(options.dataDir);
  const logDir = resolve(dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const natsUrl = config.communication.nats_url.split(",")[0]?.trim() as string;

  let nats: LocalNats | undefined;
  let onListening: ((url: string) => void) | undefined;
  const listening = new Promise<string>((r) => {
    onListening = r;
  });
  const supervisor = new Supervisor({
    logDir,
    env: { ...process.env, OCLAW_SUPERVISOR_PID: String(process.pid) },
    onLine: relay,
    onStderr: (name, text) => process.stderr.write(`[${name}] ${text}`),
  });

  let shuttingDown = false;
  const shutdown = async (code: number, how: { graceMs?: number; parallel?: boolean } = {}) => {
    if (shuttingDown) return;
    shuttingDown = true;
    if (supervisor.processes.length > 0 || nats?.running()) say("\n• stopping the cluster…");
    await supervisor.stopAll({
      // A worker drains first: its running tasks get worker.drain_timeout to finish.
      graceMs: how.graceMs ?? GRACE_MS + config.worker.drain_timeout,
      parallel: how.parallel ?? false,
      onStopped: (proc) => say(`  stopped ${proc.name}`),
    });
    if (nats?.running()) {
      await terminate(nats, GRACE_MS);
      say("  stopped nats-server");
    }
    if (nats) forgetPidFile(nats);
    forgetUpContext();
    await supervisor.logsWritten(2000);
    process.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      complain(`${signal} again: killing the services now`);
      supervisor.killAll();
      nats?.kill("SIGTERM");
      forgetUpContext();
      process.exit(EXIT.failed);
    }
    void shutdown(EXIT.ok);
  };
  // SIGHUP: the terminal went away. Stop as on Ctrl+C rather than die and orphan everything.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => onSignal(signal));
  const fail = (message: string, how?: { graceMs?: number; parallel?: boolean }) => {
    complain(message);
    void shutdown(EXIT.failed, how);
  };

  try {
    nats = await ensureLocalNats({
      url: natsUrl,
      storeDir: resolve(dataDir, "nats"),
      logFile: resolve(logDir, "nats-server.log"),
      onSpawn: (n) => {
        nats = n;
      },
      say,
    });
  } catch (err) {
    if (!(err instanceof UpError)) throw err;
    fail(err.message);
    return;
  }
  if (shuttingDown) return;
  const localNats = nats;
  if (localNats) {
    void localNats.exited.then((status) => {
      if (shuttingDown) return;
      fail(
        `nats-server (pid ${localNats.pid}) ${localNats.adopted ? "is gone" : describeExit(status)}; stopping the cluster. Its log: ${resolve(logDir, "nats-server.log")}`,
        { graceMs: NO_NATS_GRACE_MS, parallel: true },
      );
    });
  }

  const skillsDir =
    options.skillsDir ?? (existsSync(config.worker.skills_dir) ? config.worker.skills_dir : EXAMPLE_SKILLS);
  const nodeId = options.nodeId ?? "local-worker";
  for (const name of ORDER) {
    const proc = supervisor.spawn(name, process.execPath, [
      process.argv[1] as string,
      name,
      ...childArgs(name, {
        options,
        natsUrl,
        skillsDir,
        nodeId,
        logLevel: config.log.level,
        metricsPort: config.metrics.port,
      }),
    ]);
    if (options.verbose) say(`• ${name} pid ${proc.pid}`);
    void proc.exited.then((status) => {
      if (shuttingDown) return;
      fail(
        `${name} (pid ${proc.pid}) exited (${describeExit(status)}); stopping the cluster. Its log: ${supervisor.logFile(name)}`,
      );
    });
  }

  function relay(name: string, line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (options.verbose && line.trim() !== "") say(`[${name}] ${line}`);
      return;
    }
    if (
      name === "coordinator" &&
      entry.message === "coordinator listening" &&
      typeof entry.url === "string"
    ) {
      onListening?.(entry.url);
    }
    const level = String(entry.level);
    if (options.verbose || level === "warn" || level === "error" || level === "fatal") {
      say(`[${name}] ${level}: ${entry.message}${entry.error ? ` (${entry.error})` : ""}`);
    }
  }

  const timeout = setTimeout(
    () =>
      fail(`the coordinator did not start listening within 60s; see ${supervisor.logFile("coordinator")}`),
    60_000,
  );
  const apiUrl = (await listening).replace("0.0.0.0", "localhost").replace("[::]", "localhost");
  clearTimeout(timeout);
  if (shuttingDown) return;
  writeUpContext({
    pid: process.pid,
    nats_url: natsUrl,
    subject_prefix: config.cluster.subject_prefix,
    api_url: apiUrl,
    ...(options.config ? { config_file: resolve(options.config) } : {}),
    ...(options.secrets ? { secrets_file: resolve(options.secrets) } : {}),
    data_dir: dataDir,
    started_at: new Date().toISOString(),
  });
  say(`• services: ${ORDER.join(", ")} (logs in ${logDir})`);
  say(`• worker '${nodeId}' with skills from ${skillsDir}`);
  if (config.metrics.port > 0) {
    const ports = METRICS_ORDER.map((n) => `${n} :${metricsPortOf(n, config.metrics.port)}`);
    say(`• metrics: ${ports.join(", ")}, coordinator ${apiUrl}/metrics`);
  }
  say("");
  say(`OpenClaw Cluster API: ${apiUrl}`);
  say(`  dashboard   ${apiUrl}/`);
  say(`  API docs    ${apiUrl}/docs`);
  say(`  try         ${OCLAW} status   ${OCLAW} nodes   ${OCLAW} submit echo --payload '{"hi":1}' --wait`);
  say(`  curl ${apiUrl}/api/v1/cluster/health`);
  say("Every oclaw command on this machine talks to this cluster while it runs. Press Ctrl+C to stop.");
}

/** A service's own metrics port under `up`; 0 (none) for the coordinator, which has its API port. */
function metricsPortOf(name: string, base: number): number {
  const i = METRICS_ORDER.indexOf(name as (typeof METRICS_ORDER)[number]);
  return i < 0 ? 0 : base + i;
}

/**
 * The command line of one service under `up`: every configuration flag given to `up`, except
 * `--port` (the API port) which only the coordinator gets; the worker's own port is `worker.port`.
 */
function childArgs(
  name: string,
  ctx: {
    options: UpOptions;
    natsUrl: string;
    skillsDir: string;
    nodeId: string;
    logLevel: string;
    metricsPort: number;
  },
): string[] {
  const { options } = ctx;
  const flags: Record<string, string> = {};
  for (const [flag, value] of Object.entries(configFlagValues(options, "coordinator"))) {
    if (flag !== "--port" || name === "coordinator") flags[flag] = String(value);
  }
  flags["--nats-url"] = ctx.natsUrl;
  if (ctx.metricsPort > 0) flags["--metrics-port"] = String(metricsPortOf(name, ctx.metricsPort));
  // `up` reads its services' JSON lines (to find the API URL, to relay warnings), and needs the
  // coordinator's info line "coordinator listening" whatever log level was asked for.
  flags["--log-format"] = "json";
  if (name === "coordinator" && LOG_LEVELS.indexOf(ctx.logLevel as "info") > LOG_LEVELS.indexOf("info")) {
    flags["--log-level"] = "info";
  }
  if (name === "worker") {
    flags["--skills-dir"] = ctx.skillsDir;
    flags["--node-id"] = ctx.nodeId;
    // The one local worker also plays seed 000's `coordinator` role (its map-reduce runs the reduce there).
    flags["--labels"] ??= "role=coordinator";
  }
  return [
    ...(options.config ? ["-c", options.config] : []),
    ...(options.secrets ? ["--secrets", options.secrets] : []),
    ...Object.entries(flags).flat(),
  ];
}

export function registerUpCommand(program: Command): void {
  const cmd = program
    .command("up")
    .description(
      "start a whole local cluster: NATS (if none answers), every service and a worker with example skills. " +
        "Every configuration flag given is passed on to every service, except --port (the coordinator's).",
    );
  addConfigFlags(cmd, "coordinator", {
    "--nats-url": "NATS to use, or to start when nothing answers there (communication.nats_url)",
    "--port":
      "HTTP API port (coordinator.port); passed to the coordinator only: the worker's own port is worker.port (config file or OPENCLAW_WORKER_PORT)",
    "--skills-dir":
      "skills of the local worker (worker.skills_dir); default worker.skills_dir if it exists, else examples/skills",
    "--node-id": "id of the local worker (worker.node_id); default local-worker",
    "--log-format": "ignored: the services under up always log JSON, which up reads (log.format)",
  })
    .option("--data-dir <dir>", "where nats-server data and service logs go", "./data")
    .option("--verbose", "print every service log line and each service's pid")
    .action((opts: UpOptions) => up(opts));
}
