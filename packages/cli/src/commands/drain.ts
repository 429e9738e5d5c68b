import { decode, publishDrain } from "@openclaw/bus";
import { DURATION_RULE, NodeRecord, nodeIdProblem, parseDuration } from "@openclaw/protocol";
import type { Command } from "commander";
import { type ConnectOptions, connectFlags, withCluster } from "./connect.js";
import { EXIT } from "./service.js";

interface DrainOptions extends ConnectOptions {
  reason?: string;
  wait?: boolean;
  timeout?: string;
}

function usage(command: string, message: string): never {
  process.stderr.write(`oclaw ${command}: ${message}\n`);
  process.exit(EXIT.usage);
}

/**
 * `oclaw drain <node>` / `oclaw undrain <node>`: no new work for the node (running tasks finish),
 * or work again. With --wait, drain returns once the node runs nothing.
 */
function drainCommand(command: "drain" | "undrain", nodeId: string, o: DrainOptions): Promise<void> {
  const problem = nodeIdProblem(nodeId);
  if (problem) usage(command, `node id '${nodeId}' ${problem}`);
  const timeoutMs = parseDuration(o.timeout ?? "10m");
  if (timeoutMs === undefined || timeoutMs <= 0)
    usage(command, `--timeout '${o.timeout}' is not ${DURATION_RULE}`);
  const draining = command === "drain";
  return withCluster(command, o, async (cluster, _config, sender) => {
    const read = async () => {
      const entry = await cluster.kv.nodes.get(nodeId);
      const d = entry?.operation === "PUT" ? decode(NodeRecord, entry.value) : undefined;
      return d?.ok ? d.value : undefined;
    };
    if (!(await read())) {
      process.stderr.write(
        `oclaw ${command}: node '${nodeId}' is not known to the cluster; oclaw nodes lists them\n`,
      );
      return EXIT.failed;
    }
    const reason = o.reason ?? `oclaw ${command}`;
    await publishDrain(cluster, sender, { nodeId, draining, reason });
    // The registry applies it in order with the node's other messages: wait until the record shows it.
    const deadline = Date.now() + timeoutMs;
    let rec = await read();
    const applied = () => (rec?.drain != null) === draining;
    const idle = () => (rec?.load.running_tasks ?? 0) === 0 || rec?.state === "left";
    while (!(applied() && (!o.wait || !draining || idle()))) {
      if (Date.now() > deadline) {
        process.stderr.write(
          `oclaw ${command}: node '${nodeId}' ${applied() ? `still runs ${rec?.load.running_tasks} tasks` : `is not ${command}ed yet (is a registry running?)`} after ${o.timeout ?? "10m"}\n`,
        );
        return EXIT.failed;
      }
      await new Promise((r) => setTimeout(r, 200));
      rec = await read();
    }
    const out = {
      node_id: nodeId,
      draining,
      reason,
      running_tasks: rec?.load.running_tasks ?? 0,
    };
    process.stdout.write(
      o.json
        ? `${JSON.stringify(out)}\n`
        : draining
          ? `${nodeId}: drained; no new tasks go to it${o.wait ? "; it runs nothing now" : ` (${out.running_tasks} running tasks finish)`}\n`
          : `${nodeId}: undrained; it takes new tasks again\n`,
    );
    return EXIT.ok;
  });
}

export function registerDrainCommands(program: Command): void {
  connectFlags(
    program
      .command("drain")
      .description("stop placing new tasks on a node; its running tasks finish (maintenance)")
      .argument("<node>", "node id")
      .option("--reason <text>", "why, shown with the node")
      .option("--wait", "return once the node runs no task any more")
      .option("--timeout <duration>", "how long to wait with --wait (or for the drain to show)", "10m"),
  ).action((node: string, opts: DrainOptions) => drainCommand("drain", node, opts));
  connectFlags(
    program
      .command("undrain")
      .description("let a drained node take new tasks again")
      .argument("<node>", "node id")
      .option("--reason <text>", "why, for the node's history")
      .option("--timeout <duration>", "how long to wait for the undrain to show", "1m"),
  ).action((node: string, opts: DrainOptions) => drainCommand("undrain", node, opts));
}
