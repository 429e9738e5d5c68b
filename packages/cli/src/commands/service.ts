import { hostname } from "node:os";
import { resolve as resolvePath } from "node:path";
import { errorMessage, redactUrl, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { type Config, ConfigError, envWarnings, loadConfig } from "@openclaw/config";
import { startCoordinator } from "@openclaw/coordinator";
import { startHealthMonitor } from "@openclaw/health-monitor";
import { createLogger, detachOutput, type Logger } from "@openclaw/log";
import { initMetrics, type MetricsServer, serveMetrics, trackNatsConnection } from "@openclaw/metrics";
import { isOcError, OcError } from "@openclaw/protocol";
import { startRegistry } from "@openclaw/registry";
import { startScheduler } from "@openclaw/scheduler";
import { checkSkillsDir, startWorker } from "@openclaw/worker";
import type { Command } from "commander";
import { addConfigFlags, configFlagValues } from "../flags.js";
import { impliedUpContext } from "../up-context.js";

type Stoppable = {
  stop(): Promise<void>;
  /** Before the process exits in an unknown state: hand back what runs, within `timeoutMs`. */
  emergencyStop?(reason: string, timeoutMs?: number): Promise<unknown>;
  /** A stop under way (a worker draining) is to finish now. */
  hurry?(): void;
};

/** What a clean stop may take beyond a worker's drain before the process exits anyway. */
const STOP_BUDGET_MS = 15_000;

/** How long an uncaught exception leaves a service to hand back its work before exiting. */
const EMERGENCY_STOP_MS = 1000;

export const SERVICES: Record<
  string,
  { summary: string; start: (ctx: ServiceContext) => Promise<Stoppable> }
> = {
  coordinator: { summary: "HTTP API and SQLite read model", start: startCoordinator },
  registry: { summary: "keeps the node table (KV nodes)", start: startRegistry },
  "health-monitor": {
    summary: "marks nodes online/suspect/offline from heartbeats",
    start: startHealthMonitor,
  },
  scheduler: { summary: "places tasks on nodes (leader-elected)", start: startScheduler },
  worker: { summary: "announces this machine's skills and capacity, and heartbeats", start: startWorker },
};

/** Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Loads the configuration `service` runs with; on a bad one, says why and exits 2. */
export function loadServiceConfig(
  service: string,
  options: Record<string, unknown>,
  command: string = service,
): Config {
  // Nothing names a cluster: follow the one a running `oclaw up` started.
  const up = command === "up" ? undefined : impliedUpContext(options);
  const flags = configFlagValues(options, service);
  if (up) flags["--nats-url"] = up.nats_url;
  try {
    return loadConfig({
      configFile: (options.config as string | undefined) ?? up?.config_file,
      secretsFile: (options.secrets as string | undefined) ?? up?.secrets_file,
      env: up ? { OPENCLAW_SUBJECT_PREFIX: up.subject_prefix, ...process.env } : process.env,
      flags,
      service,
    }).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`oclaw ${command}: invalid configuration [${err.code}]\n`);
      for (const line of err.lines) process.stderr.write(`  ${line}\n`);
      process.exit(EXIT.usage);
    }
    throw err;
  }
}

function instanceId(service: string, config: Config, explicit: unknown): string {
  if (typeof explicit === "string" && explicit !== "") return explicit;
  if (process.env.OPENCLAW_INSTANCE_ID) return process.env.OPENCLAW_INSTANCE_ID;
  if (service === "worker") return config.worker.node_id;
  return `${service}-${hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${process.pid}`;
}

/** Runs one service in this process until SIGINT/SIGTERM, then stops it cleanly. */
export async function runService(service: string, options: Record<string, unknown>): Promise<void> {
  const def = SERVICES[service];
  if (!def) throw new Error(`unknown service ${service}`);
  const config = loadServiceConfig(service, options);
  const instance = instanceId(service, config, options.instance);
  const log = createLogger({
    service,
    instance,
    cluster: config.cluster.name,
    level: config.log.level,
    format: config.log.format,
  });
  let handle: Stoppable | undefined;
  // A rejection nobody handled leaves the service in a state nobody knows: exit, and let the
  // supervisor (systemd, `oclaw up`, ...) start a fresh one. Not a worker: there it is most likely
  // a module skill's stray promise (skills run in the worker's process), and exiting would end
  // every task on the node for it; the rejection changed nothing else, so the worker goes on.
  process.on("unhandledRejection", (reason) => {
    const err = reason instanceof Error ? reason : undefined;
    const fields = { error: err?.message ?? String(reason), stack: err?.stack };
    if (service === "worker") {
      log.error({ ...fields, error_code: "OC-6001" }, "a skill left a promise rejected; ignored");
      return;
    }
    log.fatal({ ...fields, error_code: "OC-5000" }, "unhandled rejection; exiting");
    flushAndExit(log, EXIT.failed);
  });
  // An exception thrown out of a callback (a timer, an event) may have left anything half done:
  // exit. A worker first reports its running attempts lost, so they run again elsewhere at once.
  let crashing = false;
  process.on("uncaughtException", (err) => {
    // Once only: whatever goes wrong while crashing (even the log line below) must not loop.
    if (crashing) return;
    crashing = true;
    log.fatal({ error: err.message, stack: err.stack, error_code: "OC-5000" }, "uncaught exception; exiting");
    const emergency = handle?.emergencyStop?.bind(handle);
    if (!emergency) {
      flushAndExit(log, EXIT.failed);
      return;
    }
    const exit = () => flushAndExit(log, EXIT.failed);
    // The emergency stop gives up within its time; this is in case it hangs regardless.
    const timer = setTimeout(exit, EMERGENCY_STOP_MS + 500);
    emergency(`uncaught exception: ${err.message}`, EMERGENCY_STOP_MS)
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        exit();
      });
  });
  // A misspelt OPENCLAW_* variable is ignored: said once, here (an `oclaw` command says it on stderr).
  for (const line of envWarnings(process.env)) log.warn(line);
  if (service === "worker" && (options.coordinatorHost || options.coordinatorPort)) {
    log.warn(
      "--coordinator-host/--coordinator-port are ignored: workers reach the cluster through NATS (--nats-url)",
    );
  }

  if (service === "worker") {
    // A wrong skills path is a usage error: say so at once, before connecting anywhere.
    try {
      await checkSkillsDir(resolvePath(config.worker.skills_dir));
    } catch (err) {
      process.stderr.write(`oclaw worker: [OC-3002] ${(err as Error).message}\n`);
      process.exit(EXIT.usage);
    }
  }

  let ctx: ServiceContext | undefined;
  let metricsServer: MetricsServer | undefined;
  let stopping = false;
  // Kept, so a stop during startup waits for it: closing the connection under a starting service
  // would keep a worker that has already registered from announcing that it leaves.
  const starting = (async () => {
    log.info({ nats_url: redactUrl(config.communication.nats_url) }, `starting ${service}`);
    initMetrics({ service, instance });
    ctx = await startServiceContext({ config, service, instance, log });
    trackNatsConnection(ctx.cluster.nc.status());
    handle = await def.start(ctx);
    if (config.metrics.port > 0) {
      try {
        metricsServer = await serveMetrics({ host: config.metrics.host, port: config.metrics.port });
      } catch (err) {
        // Started, but cannot serve what it was asked to: stop cleanly (a worker leaves) and fail.
        await handle.stop().catch(() => undefined);
        handle = undefined;
        throw new OcError(
          "OC-1001",
          `cannot serve metrics on ${config.metrics.host}:${config.metrics.port} (${errorMessage(err)}); give this service its own metrics.port`,
        );
      }
      log.info({ url: `http://${config.metrics.host}:${metricsServer.port}/metrics` }, "serving metrics");
    }
  })();
  let signals = 0;
  const stop = async (signal: string) => {
    signals += 1;
    if (stopping && signals === 2 && handle?.hurry) {
      log.warn({ signal }, "second signal: handing running tasks back now (a third exits at once)");
      handle.hurry();
      return;
    }
    if (stopping) {
      log.warn({ signal }, "signal while stopping: exiting now");
      process.exit(EXIT.failed);
    }
    stopping = true;
    log.info({ signal }, "stopping");
    const force = setTimeout(
      () => {
        log.error("clean stop took too long; exiting");
        process.exit(EXIT.failed);
      },
      STOP_BUDGET_MS + (service === "worker" ? config.worker.drain_timeout : 0),
    );
    force.unref();
    try {
      const startFailed = await starting.then(
        () => false,
        () => true,
      );
      await handle?.stop();
      await metricsServer?.close();
      await ctx?.close();
      log.info("stopped");
      flushAndExit(log, startFailed ? EXIT.failed : EXIT.ok);
    } catch (err) {
      log.error({ error: (err as Error).message }, "error while stopping");
      flushAndExit(log, EXIT.failed);
    }
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  watchSupervisor(() => {
    // The supervisor read our stdout: with it gone, write no more there (see detachOutput).
    detachOutput();
    void stop("supervisor exited");
  });

  try {
    await starting;
  } catch (err) {
    const code = isOcError(err) ? err.code : "OC-5000";
    log.fatal({ error: (err as Error).message, error_code: code }, `${service} failed to start`);
    process.stderr.write(`oclaw ${service}: [${code}] ${(err as Error).message}\n`);
    // A stop under way closes the context and exits (1) itself.
    if (stopping) return;
    await ctx?.close().catch(() => undefined);
    flushAndExit(log, EXIT.failed);
  }
}

/** Under `oclaw up`, stop when the supervisor is gone (killed hard), so no service is orphaned. */
function watchSupervisor(onGone: () => void): void {
  const pid = Number(process.env.OCLAW_SUPERVISOR_PID);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0);
    } catch {
      clearInterval(timer);
      onGone();
    }
  }, 1000);
  timer.unref();
}

function flushAndExit(log: Logger, code: number): void {
  // Should the flush never call back, exit anyway.
  setTimeout(() => process.exit(code), 2000).unref();
  log.flush(() => process.exit(code));
}

export function registerServiceCommands(program: Command): void {
  for (const [name, def] of Object.entries(SERVICES)) {
    const cmd = program
      .command(name)
      .description(
        `run the ${name} service: ${def.summary}. Takes every configuration flag (docs/configuration.md).`,
      );
    addConfigFlags(cmd, name).option(
      "--instance <id>",
      "instance id for logs and leases; default <service>-<host>-<pid>",
    );
    if (name === "worker") {
      cmd
        .option(
          "--coordinator-host <host>",
          "accepted so existing command lines still start; ignored (workers use NATS)",
        )
        .option(
          "--coordinator-port <port>",
          "accepted so existing command lines still start; ignored (workers use NATS)",
        );
    }
    cmd.action((opts: Record<string, unknown>) => runService(name, opts));
  }
}
