import { hostname } from "node:os";
import { bindCluster, type Cluster, connectBus } from "@openclaw/bus";
import type { Config } from "@openclaw/config";
import { silentLogger } from "@openclaw/log";
import { isOcError, names, type Sender } from "@openclaw/protocol";
import type { Command } from "commander";
import { EXIT, loadServiceConfig } from "./service.js";

export interface ConnectOptions {
  config?: string;
  secrets?: string;
  natsUrl?: string;
  json?: boolean;
}

/**
 * How long a command waits for NATS before it says it cannot connect: a person is waiting, so
 * never longer than 5 s, whatever a service's `communication.connect_timeout` is.
 */
export function commandConnectTimeout(config: Config): number {
  return Math.min(config.communication.connect_timeout, 5000);
}

/** Loads the configuration, connects to NATS and binds the cluster; runs `fn`, then exits with its code. */
export async function withCluster(
  command: string,
  o: ConnectOptions,
  fn: (cluster: Cluster, config: Config, sender: Sender) => Promise<number>,
): Promise<void> {
  const config = loadServiceConfig(
    "coordinator",
    { config: o.config, secrets: o.secrets, natsUrl: o.natsUrl },
    command,
  );
  const comm = config.communication;
  const sender: Sender = {
    service: "cli",
    instance: `oclaw-${command}-${hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${process.pid}`,
  };
  let code: number = EXIT.failed;
  let nc: Awaited<ReturnType<typeof connectBus>> | undefined;
  try {
    nc = await connectBus({
      url: comm.nats_url,
      user: comm.nats_user,
      password: comm.nats_password,
      token: comm.nats_token,
      name: sender.instance,
      connectTimeoutMs: commandConnectTimeout(config),
      log: silentLogger(),
    });
    const cluster = await bindCluster(nc, names(config.cluster.subject_prefix));
    code = await fn(cluster, config, sender);
  } catch (err) {
    process.stderr.write(
      `oclaw ${command}: ${isOcError(err) ? `[${err.code}] ` : ""}${(err as Error).message}\n`,
    );
    code = EXIT.failed;
  } finally {
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc?.close());
  }
  process.exit(code);
}

/** The flags of every command that talks to the cluster over NATS. */
export function connectFlags(cmd: Command): Command {
  return cmd
    .option("--json", "print JSON for scripts")
    .option("-c, --config <file>", "config file; default ./config.yaml if present")
    .option("--secrets <file>", "secrets file")
    .option("--nats-url <url>", "NATS server URL(s)");
}
