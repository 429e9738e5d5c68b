import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { basename, join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetStreamManagerOf } from "@openclaw/bus";
import { type ExitStatus, type Supervised, supervise } from "./supervisor.js";

/** A failure `oclaw up` reports (after `oclaw up: `) and exits 1 on. */
export class UpError extends Error {}

export type NatsState = "jetstream" | "no-jetstream" | "down";

/** Whether a NATS server answers at `url`, and whether it has JetStream. */
export async function natsAnswers(url: string): Promise<NatsState> {
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

/** The nats-server `up` runs: started now (`adopted: false`) or left running by an earlier `up`. */
export interface LocalNats extends Supervised {
  readonly adopted: boolean;
  readonly pidFile: string;
}

export interface LocalNatsOptions {
  /** The first NATS URL of the configuration. */
  url: string;
  /** JetStream store, also where the pid file goes. */
  storeDir: string;
  /** nats-server's stderr goes here. */
  logFile: string;
  /** Called as soon as a nats-server is started, before it is ready, so a Ctrl+C can stop it. */
  onSpawn?: (nats: LocalNats) => void;
  say(line: string): void;
}

const LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"];

/** `nats-server.pid` in the store dir: nats-server writes it (`-P`) and removes it on a clean stop. */
export function pidFileOf(storeDir: string): string {
  return join(storeDir, "nats-server.pid");
}

/**
 * Makes sure NATS with JetStream answers at `url`. Resolves with the nats-server `up` must stop
 * on its way out (one it started, or one an earlier `up` started and left behind), or undefined
 * when the NATS there is someone else's. Throws UpError when it can do neither.
 */
export async function ensureLocalNats(options: LocalNatsOptions): Promise<LocalNats | undefined> {
  const { url, storeDir, say } = options;
  const parsed = new URL(url.includes("://") ? url : `nats://${url}`);
  const port = Number(parsed.port || 4222);
  const pidFile = pidFileOf(storeDir);
  const state = await natsAnswers(url);
  if (state === "no-jetstream") {
    throw new UpError(`[OC-2003] NATS at ${url} answers but has no JetStream; restart it with -js.`);
  }

  const earlier = readPid(pidFile);
  const args = earlier === undefined ? undefined : natsServerArgs(earlier);
  if (earlier !== undefined && !args) {
    rmSync(pidFile, { force: true });
    say(`• removed the stale ${pidFile} (no nats-server runs as pid ${earlier})`);
  }
  if (earlier !== undefined && args) {
    const ourPort = listensOn(args) === port;
    if (state === "jetstream" && ourPort) {
      say(
        `• adopted the nats-server an earlier 'oclaw up' left running on ${url} (pid ${earlier}); it stops with this cluster`,
      );
      return adopt(earlier, pidFile);
    }
    if (state === "down") {
      throw new UpError(
        ourPort
          ? `a nats-server started by an earlier 'oclaw up' (pid ${earlier}, ${pidFile}) runs but does not answer at ${url}; stop it (kill ${earlier}) and run this again.`
          : `a nats-server started by an earlier 'oclaw up' (pid ${earlier}, ${pidFile}) runs on another port with the same JetStream store; stop it (kill ${earlier}) or point --nats-url at it.`,
      );
    }
  }

  if (state === "jetstream") {
    say(`• using the NATS at ${url}`);
    return undefined;
  }
  if (!LOCAL_HOSTS.includes(parsed.hostname)) {
    throw new UpError(`[OC-2001] no NATS answers at ${url}, and it is not a local address to start one on.`);
  }
  const nats = await startNatsServer({ ...options, port, pidFile });
  say(`• started nats-server on ${url} (pid ${nats.pid}, JetStream store ${storeDir})`);
  return nats;
}

async function startNatsServer(
  options: LocalNatsOptions & { port: number; pidFile: string },
): Promise<LocalNats> {
  const { port, pidFile, storeDir, logFile } = options;
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  if (spawnSync(bin, ["--version"], { stdio: "ignore" }).error) {
    throw new UpError(
      [
        `[OC-1003] no NATS answers at ${options.url} and '${bin}' is not on PATH.`,
        "  Install NATS and run this again:",
        "    Debian/Ubuntu: sudo apt-get install -y nats-server",
        "    macOS:         brew install nats-server",
        "    other:         https://github.com/nats-io/nats-server/releases",
        "  Or point communication.nats_url (--nats-url, NATS_URL) at a running nats-server with -js.",
      ].join("\n"),
    );
  }
  mkdirSync(storeDir, { recursive: true });
  // Its own process group: a terminal Ctrl+C reaches only `oclaw up`, which stops NATS last,
  // after the workers have announced they are leaving. The pid file lets the next `up` find it
  // if this one dies without stopping it.
  // Task payloads may be up to tasks.max_payload_bytes (1 MiB) plus their envelope: above NATS's default.
  const confFile = join(storeDir, "nats-server.conf");
  writeFileSync(confFile, "max_payload: 8MB\n");
  const child = spawn(
    bin,
    ["-c", confFile, "-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port), "-P", pidFile],
    {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    },
  );
  child.stderr?.pipe(createWriteStream(logFile, { flags: "a" }));
  const nats: LocalNats = { ...supervise("nats-server", child), adopted: false, pidFile };
  options.onSpawn?.(nats);

  const deadline = Date.now() + 10_000;
  while (!(await portOpen("127.0.0.1", port))) {
    if (!nats.running() || Date.now() > deadline) {
      nats.kill("SIGKILL");
      throw new UpError(`nats-server did not start on port ${port}; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return nats;
}

/** Removes the pid file of a nats-server that is gone (nats-server leaves it behind). */
export function forgetPidFile(nats: LocalNats): void {
  if (nats.running() || readPid(nats.pidFile) !== nats.pid) return;
  rmSync(nats.pidFile, { force: true });
}

function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 ? pid : -1;
}

/** True while `pid` is a live process (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** The command line of `pid` when it is a live nats-server, else undefined. */
function natsServerArgs(pid: number): string[] | undefined {
  if (!processAlive(pid)) return undefined;
  let args: string[] | undefined;
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    const ps = spawnSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" });
    if (ps.status === 0) args = ps.stdout.trim().split(/\s+/);
  }
  const program = basename(args?.[0] ?? "");
  const bin = basename(process.env.NATS_SERVER_BIN ?? "nats-server");
  return program.startsWith("nats-server") || program === bin ? args : undefined;
}

function listensOn(args: string[]): number | undefined {
  const i = args.findIndex((a) => a === "-p" || a === "--port");
  return i >= 0 ? Number(args[i + 1]) : undefined;
}

/** A nats-server that is not our child: signalled by pid, watched by polling. */
function adopt(pid: number, pidFile: string): LocalNats {
  let gone = false;
  const done = new Promise<ExitStatus>((resolve) => {
    const timer = setInterval(() => {
      if (processAlive(pid)) return;
      clearInterval(timer);
      gone = true;
      resolve({ code: null, signal: null });
    }, 200);
  });
  return {
    name: "nats-server",
    pid,
    adopted: true,
    pidFile,
    exited: done,
    running: () => !gone && processAlive(pid),
    kill: (signal) => {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    },
  };
}
