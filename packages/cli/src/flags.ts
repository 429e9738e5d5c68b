import { flagPath, SETTING_SOURCES } from "@openclaw/config";
import { type Command, Option } from "commander";

/** A configuration flag as one service reads it: `--port` is `worker.port` on a worker. */
export interface ConfigFlag {
  flag: string;
  /** The config key the flag sets for this service. */
  path: string;
}

/** Short explanations for the help; the config key is always named, these only add to it. */
const HINTS: Record<string, string> = {
  "storage.path": "the coordinator's SQLite read model file",
  "coordinator.host": "address the HTTP API binds to",
  "coordinator.port": "HTTP API port; 0 picks a free one",
  "coordinator.heartbeat_timeout": "a node is offline after this long without heartbeats",
  "coordinator.heartbeat_check_interval": "how often heartbeat ages are checked",
  "worker.node_id": "this node's id",
  "worker.max_concurrent_tasks": "tasks this node runs at once",
  "worker.heartbeat_interval": "how often the worker heartbeats, e.g. 5s",
  "worker.skills_dir": "folder of skill folders",
  "worker.port": "this machine's OpenClaw gateway port, announced",
  "worker.labels": "node labels, e.g. gpu=true,tier=fast",
  "worker.zone": "placement zone",
  "worker.advertise_ip": "address to announce instead of the detected one",
  "worker.drain_timeout": "on SIGTERM, how long running tasks get before they are handed back",
  "worker.skill_threads": "threads module skills share; 0: one per core (min 2)",
  "communication.nats_url": "NATS server URL(s), comma separated",
  "metrics.port": "port of this service's GET /metrics (Prometheus); 0: none",
  "log.level": "trace|debug|info|warn|error|fatal|silent",
  "log.format": "json|pretty",
};

const PLACEHOLDERS: Record<string, string> = { "--labels": "<k=v,...>", "--max-concurrent-tasks": "<n>" };

function placeholder(flag: string): string {
  const fixed = PLACEHOLDERS[flag];
  if (fixed) return fixed;
  if (/-(timeout|interval)$/.test(flag)) return "<duration>";
  return `<${flag.split("-").pop() || "value"}>`;
}

/** Every flag of SETTING_SOURCES, with the key it sets on `service`. */
export function configFlags(service: string): ConfigFlag[] {
  const out: ConfigFlag[] = [];
  for (const s of SETTING_SOURCES) {
    if (!s.flag || out.some((f) => f.flag === s.flag)) continue;
    out.push({ flag: s.flag, path: flagPath(s.flag, service) ?? s.path });
  }
  return out;
}

/** The help line of a config flag: what it is, and the key it sets. */
export function flagHelp(f: ConfigFlag, service: string): string {
  const hint = HINTS[f.path];
  const base = hint ? `${hint} (${f.path})` : `sets ${f.path}`;
  if (f.flag === "--port" && service === "worker") {
    return `${base}; on the other services --port is coordinator.port`;
  }
  return base;
}

/**
 * Adds -c/--config, --secrets and every configuration flag; `help` overrides a flag's help text.
 * Every service accepts every flag, so one config can be given as flags to any of them.
 */
export function addConfigFlags(cmd: Command, service: string, help: Record<string, string> = {}): Command {
  cmd
    .option("-c, --config <file>", "config file (YAML or JSON); default ./config.yaml if present")
    .option("--secrets <file>", "secrets file kept out of git; default secrets.yaml beside the config");
  for (const f of configFlags(service)) {
    cmd.addOption(new Option(`${f.flag} ${placeholder(f.flag)}`, help[f.flag] ?? flagHelp(f, service)));
  }
  return cmd;
}

/** Commander's option values back to `--flag` names for loadConfig; only the flags given. */
export function configFlagValues(options: Record<string, unknown>, service: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { flag } of configFlags(service)) {
    const value = options[new Option(flag).attributeName()];
    if (value !== undefined) out[flag] = value;
  }
  return out;
}
