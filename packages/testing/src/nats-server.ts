import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StopWaiting, waitFor } from "./wait.js";

export interface NatsServerOptions {
  /** Enable JetStream with a store in a temp dir. @default true */
  jetstream?: boolean;
  /** Reuse a port (for restarts); by default the server picks a free one. */
  port?: number;
  /** Reuse a store dir (for restarts); by default a new temp dir that stop() removes. */
  storeDir?: string;
  /** Extra lines for the server config file. */
  extraConfig?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its temp dirs unless `keepStore`. */
  stop(options?: { keepStore?: boolean }): Promise<void>;
  /** Hard-kills the server, as a crash would. */
  kill(): Promise<void>;
  /** Starts the same server again on the same port and store. */
  restart(): Promise<NatsServer>;
}

/** The nats-server binary: `NATS_SERVER_BIN`, else `nats-server` on PATH. Throws a clear error when missing. */
export function natsServerBinary(): string {
  const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error(
      `nats-server not found (tried '${bin}'). Install it (Debian: apt-get install -y nats-server) or set NATS_SERVER_BIN.`,
    );
  }
  return bin;
}

/** Resolves when the child has exited; at once when it already has (by a signal too). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Registers a nats-server child so it is killed when the test process exits. */
export function trackNatsProcess(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
}

/**
 * Starts a throwaway nats-server on loopback. The server picks its own port (`port: -1`) and
 * writes it to a ports file, so parallel test files never collide and never touch a server
 * that already runs on 4222.
 */
export function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  return start(options, []);
}

/** `storeDirs`: work dirs of earlier runs (before restarts) that hold this server's store. */
async function start(options: NatsServerOptions, storeDirs: string[]): Promise<NatsServer> {
  const bin = natsServerBinary();
  const workDir = mkdtempSync(join(tmpdir(), "oc-nats-"));
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? join(workDir, "store");
  const portsDir = join(workDir, "ports");
  const conf = [
    "host: 127.0.0.1",
    `port: ${options.port ?? -1}`,
    `ports_file_dir: "${portsDir}"`,
    options.jetstream === false ? "" : `jetstream { store_dir: "${storeDir}" }`,
    "max_payload: 8MB",
    options.extraConfig ?? "",
  ].join("\n");
  const confFile = join(workDir, "nats.conf");
  writeFileSync(confFile, conf);
  mkdirSync(portsDir, { recursive: true });

  const child = spawn(bin, ["-c", confFile], { stdio: ["ignore", "ignore", "pipe"] });
  trackNatsProcess(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });

  const gone = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StopWaiting(`nats-server exited (${child.exitCode ?? child.signalCode}): ${stderr}`);
    }
  };
  let port: number;
  try {
    port = await waitFor(
      () => {
        gone();
        const file = readdirSync(portsDir).find((f) => f.endsWith(".ports"));
        if (!file) return undefined;
        const ports = JSON.parse(readFileSync(join(portsDir, file), "utf8")) as { nats?: string[] };
        const url = ports.nats?.[0];
        return url ? Number(new URL(url).port) : undefined;
      },
      { timeout: 10_000, interval: 20, message: "nats-server did not write its ports file" },
    );
    await waitFor(
      async () => {
        gone();
        return tcpOpen(port);
      },
      { timeout: 10_000, interval: 20, message: "nats-server did not accept connections" },
    );
  } catch (err) {
    // Leave nothing behind: not the process, not the temp dir (a store passed in is the caller's).
    child.kill("SIGKILL");
    await exited(child);
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }

  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    process: child,
    async stop(opts = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited(child);
        clearTimeout(timer);
      }
      // The work dir holds the store only when this run created it.
      if (opts.keepStore && ownsStore) rmSync(confFile, { force: true });
      else rmSync(workDir, { recursive: true, force: true });
      if (!opts.keepStore) for (const dir of storeDirs) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
    async restart() {
      await server.stop({ keepStore: true });
      return start({ ...options, port, storeDir }, ownsStore ? [workDir, ...storeDirs] : storeDirs);
    },
  };
  return server;
}
