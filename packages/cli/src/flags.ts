import type { Command } from "commander";

/** A configuration flag: its commander spec and help. The config package maps it to a key. */
interface FlagSpec {
  spec: string;
  help: string;
}

const COMMON: FlagSpec[] = [
  { spec: "--nats-url <url>", help: "NATS server URL(s), comma separated (communication.nats_url)" },
  { spec: "--log-level <level>", help: "trace|debug|info|warn|error (log.level)" },
  { spec: "--log-format <format>", help: "json|pretty (log.format)" },
];

/** Flags each service accepts besides -c/--config, --secrets and --instance. */
export const SERVICE_FLAGS: Record<string, FlagSpec[]> = {
  coordinator: [
    { spec: "--host <host>", help: "address the HTTP API binds to (coordinator.host)" },
    { spec: "--port <port>", help: "HTTP API port (coordinator.port)" },
    { spec: "--db-path <path>", help: "SQLite read model file (storage.path)" },
  ],
  registry: [],
  "health-monitor": [
    {
      spec: "--heartbeat-timeout <duration>",
      help: "offline after this long without heartbeats (coordinator.heartbeat_timeout)",
    },
    { spec: "--heartbeat-check-interval <duration>", help: "how often heartbeat ages are checked" },
  ],
  scheduler: [],
  worker: [
    { spec: "--node-id <id>", help: "this node's id (worker.node_id)" },
    { spec: "--skills-dir <dir>", help: "folder of skill folders (worker.skills_dir)" },
    {
      spec: "--max-concurrent-tasks <n>",
      help: "tasks this node runs at once (worker.max_concurrent_tasks)",
    },
    { spec: "--heartbeat-interval <duration>", help: "e.g. 5s (worker.heartbeat_interval)" },
    { spec: "--labels <k=v,...>", help: "node labels, e.g. gpu=true,tier=fast (worker.labels)" },
    { spec: "--zone <zone>", help: "placement zone (worker.zone)" },
    { spec: "--port <port>", help: "this machine's OpenClaw gateway port, announced (worker.port)" },
    { spec: "--advertise-ip <ip>", help: "address to announce instead of the detected one" },
  ],
};

export function addConfigFlags(cmd: Command, service: string): Command {
  cmd
    .option("-c, --config <file>", "config file (YAML or JSON); default ./config.yaml if present")
    .option("--secrets <file>", "secrets file kept out of git; default secrets.yaml beside the config")
    .option("--instance <id>", "instance id for logs and leases; default <service>-<host>-<pid>");
  for (const f of [...(SERVICE_FLAGS[service] ?? []), ...COMMON]) cmd.option(f.spec, f.help);
  return cmd;
}

/** Commander's camelCase option values back to `--flag` names for loadConfig. */
export function configFlagValues(options: Record<string, unknown>, service: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of [...(SERVICE_FLAGS[service] ?? []), ...COMMON]) {
    const long = (f.spec.split(" ")[0] as string).trim();
    const key = long.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (options[key] !== undefined) out[long] = options[key];
  }
  return out;
}
