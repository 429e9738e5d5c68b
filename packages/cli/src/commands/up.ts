import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { createConnection } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { jetStreamManagerOf } from "@openclaw/bus";
import type { Command } from "commander";
import { EXIT, loadServiceConfig } from "./service.js";

const EXAMPLE_SKILLS = fileURLToPath(new URL("../../../../examples/skills", import.meta.url));
/** Start order; stopped in reverse. */
const ORDER = ["registry", "health-monitor", "scheduler", "coordinator", "worker"] as const;

interface UpOptions {
  config?: string;
  secrets?: string;
  natsUrl?: string;
  host?: string;
  port?: string;
  dbPath?: string;
  skillsDir?: string;
  nodeId?: string;
  dataDir: string;
  verbose?: boolean;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function natsAnswers(url: string): Promise<"jetstream" | "no-jetstream" | "down"> {
  try {
    const nc = await connect({ servers: url, timeout: 1500, maxReconnectAttempts: 0, noAsyncTraces: true });
    try {
      await jetStreamManagerOf(nc);
      return "jetstream";
    } catch {
      return "no-jetstream";
    } finally {
      await nc.close();
    }
  } catch {
    return "down";
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createConnection({ host, port });
    s.once("connect", () => {
      s.destroy();
      done(true);
    });
    s.once("error", () => done(false));
  });
}

async function startLocalNats(url: URL, storeDir: string, logFile: string): Promise<ChildProcess> {
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  if (spawnSync(bin, ["--version"], { stdio: "ignore" }).error) {
    process.stderr.write(
      [
        `oclaw up: [OC-1003] no NATS answers at ${url.href} and '${bin}' is not on PATH.`,
        "  Install NATS and run this again:",
        "    Debian/Ubuntu: sudo apt-get install -y nats-server",
        "    macOS:         brew install nats-server",
        "    other:         https://github.com/nats-io/nats-server/releases",
        "  Or point communication.nats_url (--nats-url, NATS_URL) at a running nats-server with -js.",
        "",
      ].join("\n"),
    );
    process.exit(EXIT.failed);
  }
  mkdirSync(storeDir, { recursive: true });
  const port = Number(url.port || 4222);
  // Its own process group: a terminal Ctrl+C reaches only `oclaw up`, which stops NATS last,
  // after the workers have announced they are leaving.
  const child = spawn(bin, ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  child.stderr?.pipe(createWriteStream(logFile, { flags: "a" }));
  const deadline = Date.now() + 10_000;
  while (!(await portOpen("127.0.0.1", port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      process.stderr.write(`oclaw up: nats-server did not start on port ${port}; see ${logFile}\n`);
      process.exit(EXIT.failed);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** Starts a whole local cluster: NATS if none answers, every service, one worker with example skills. */
export async function up(options: UpOptions): Promise<void> {
  const flags: Record<string, unknown> = { ...options };
  const config = loadServiceConfig("coordinator", flags);
  const dataDir = resolve(options.dataDir);
  const logDir = resolve(dataDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const natsUrl = config.communication.nats_url.split(",")[0]?.trim() as string;
  const parsed = new URL(natsUrl.includes("://") ? natsUrl : `nats://${natsUrl}`);

  let nats: ChildProcess | undefined;
  const state = await natsAnswers(natsUrl);
  if (state === "no-jetstream") {
    process.stderr.write(
      `oclaw up: [OC-2003] NATS at ${natsUrl} answers but has no JetStream; restart it with -js.\n`,
    );
    process.exit(EXIT.failed);
  }
  if (state === "down") {
    if (!["localhost", "127.0.0.1", "[::1]", "0.0.0.0"].includes(parsed.hostname)) {
      process.stderr.write(
        `oclaw up: [OC-2001] no NATS answers at ${natsUrl}, and it is not a local address to start one on.\n`,
      );
      process.exit(EXIT.failed);
    }
    nats = await startLocalNats(parsed, resolve(dataDir, "nats"), resolve(logDir, "nats-server.log"));
    say(`• started nats-server on ${natsUrl} (JetStream store ${resolve(dataDir, "nats")})`);
  } else {
    say(`• using the NATS at ${natsUrl}`);
  }

  const skillsDir =
    options.skillsDir ?? (existsSync(config.worker.skills_dir) ? config.worker.skills_dir : EXAMPLE_SKILLS);
  const common = [
    ...(options.config ? ["-c", options.config] : []),
    ...(options.secrets ? ["--secrets", options.secrets] : []),
    "--nats-url",
    natsUrl,
  ];
  const extra: Record<string, string[]> = {
    coordinator: [
      ...(options.host ? ["--host", options.host] : []),
      ...(options.port ? ["--port", options.port] : []),
      "--db-path",
      options.dbPath ?? config.storage.path,
    ],
    worker: ["--skills-dir", skillsDir, "--node-id", options.nodeId ?? "local-worker"],
  };

  const children = new Map<string, ChildProcess>();
  let shuttingDown = false;
  let onListening: ((url: string) => void) | undefined;
  const listening = new Promise<string>((r) => {
    onListening = r;
  });

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    say("\n• stopping the cluster…");
    for (const name of [...ORDER].reverse()) {
      const child = children.get(name);
      if (!child || child.exitCode !== null) continue;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await new Promise((r) => child.once("exit", r));
      clearTimeout(timer);
      say(`  stopped ${name}`);
    }
    if (nats && nats.exitCode === null) {
      nats.kill("SIGTERM");
      await new Promise((r) => nats?.once("exit", r));
      say("  stopped nats-server");
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(EXIT.ok));
  process.on("SIGTERM", () => void shutdown(EXIT.ok));

  for (const name of ORDER) {
    const child = spawn(
      process.execPath,
      [process.argv[1] as string, name, ...common, ...(extra[name] ?? [])],
      {
        stdio: ["ignore", "pipe", "pipe"],
        // Own process group, so Ctrl+C does not hit every service at once; `up` stops them in order.
        detached: true,
        env: { ...process.env, OCLAW_SUPERVISOR_PID: String(process.pid) },
      },
    );
    children.set(name, child);
    const file = createWriteStream(resolve(logDir, `${name}.log`), { flags: "a" });
    child.stderr?.on("data", (d: Buffer) => {
      file.write(d);
      process.stderr.write(`[${name}] ${d}`);
    });
    let partial = "";
    child.stdout?.on("data", (d: Buffer) => {
      file.write(d);
      partial += d.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) relay(name, line);
    });
    child.once("exit", (code, signal) => {
      if (shuttingDown) return;
      process.stderr.write(
        `oclaw up: ${name} exited (${code ?? signal}); stopping the cluster. Its log: ${resolve(logDir, `${name}.log`)}\n`,
      );
      void shutdown(EXIT.failed);
    });
  }

  function relay(name: string, line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (options.verbose) say(`[${name}] ${line}`);
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

  const timeout = setTimeout(() => {
    process.stderr.write(
      "oclaw up: the coordinator did not start listening within 60s; see data/logs/coordinator.log\n",
    );
    void shutdown(EXIT.failed);
  }, 60_000);
  const apiUrl = (await listening).replace("0.0.0.0", "localhost").replace("[::]", "localhost");
  clearTimeout(timeout);
  say(`• services: ${ORDER.join(", ")} (logs in ${logDir})`);
  say(`• worker 'local-worker' with skills from ${skillsDir}`);
  say("");
  say(`OpenClaw Cluster API: ${apiUrl}`);
  say(`  curl ${apiUrl}/api/v1/nodes`);
  say(`  curl ${apiUrl}/api/v1/cluster/health`);
  say("Press Ctrl+C to stop.");
}

export function registerUpCommand(program: Command): void {
  program
    .command("up")
    .description(
      "start a whole local cluster: NATS (if none answers), every service and a worker with example skills",
    )
    .option("-c, --config <file>", "config file; default ./config.yaml if present")
    .option("--secrets <file>", "secrets file")
    .option("--nats-url <url>", "NATS to use, or to start when nothing answers there")
    .option("--host <host>", "API bind address")
    .option("--port <port>", "API port")
    .option("--db-path <path>", "SQLite read model file")
    .option(
      "--skills-dir <dir>",
      "skills of the local worker; default worker.skills_dir if it exists, else examples/skills",
    )
    .option("--node-id <id>", "id of the local worker", "local-worker")
    .option("--data-dir <dir>", "where nats-server data and service logs go", "./data")
    .option("--verbose", "print every service log line")
    .action((opts: UpOptions) => up(opts));
}
