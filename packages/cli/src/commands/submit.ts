import { readFileSync } from "node:fs";
import { OpenClawCluster, TaskFailedError, type TaskInput, WaitTimeoutError } from "@openclaw/cluster";
import { isOcError, type PlacementStrategy, type Priority } from "@openclaw/protocol";
import type { Command } from "commander";
import { bar } from "../render.js";
import { commandConnectTimeout } from "./connect.js";
import { EXIT, loadServiceConfig } from "./service.js";

interface SubmitOptions {
  config?: string;
  secrets?: string;
  natsUrl?: string;
  payload?: string;
  priority?: string;
  timeout?: string;
  id?: string;
  idempotencyKey?: string;
  labels?: string;
  zone?: string;
  node?: string;
  affinityKey?: string;
  strategy?: string;
  maxAttempts?: string;
  name?: string;
  wait?: boolean;
  waitTimeout?: string;
  json?: boolean;
}

function payloadOf(arg: string | undefined): unknown {
  if (arg === undefined) return undefined;
  const text = arg.startsWith("@") ? readFileSync(arg.slice(1), "utf8") : arg;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(
      `--payload is not JSON${arg.startsWith("@") ? ` (file ${arg.slice(1)})` : ""}: ${(err as Error).message}`,
    );
  }
}

/** `oclaw submit <skill...>`: submit a task through NATS (the SDK), optionally waiting for its result. */
export async function submit(skills: string[], o: SubmitOptions): Promise<void> {
  const config = loadServiceConfig("coordinator", {
    config: o.config,
    secrets: o.secrets,
    natsUrl: o.natsUrl,
  });
  const cluster = new OpenClawCluster({
    natsUrl: config.communication.nats_url,
    prefix: config.cluster.subject_prefix,
    user: config.communication.nats_user,
    password: config.communication.nats_password,
    token: config.communication.nats_token,
    connectTimeoutMs: commandConnectTimeout(config),
  });
  let code: number = EXIT.ok;
  try {
    const labels = o.labels
      ? Object.fromEntries(
          o.labels
            .split(",")
            .map((p) => (p.includes("=") ? p.split("=", 2) : [p, "true"]) as [string, string]),
        )
      : undefined;
    const task: TaskInput = {
      type: skills[0],
      skills: skills.slice(1),
      payload: payloadOf(o.payload),
      priority: o.priority as Priority | undefined,
      timeout: o.timeout,
      id: o.id,
      idempotencyKey: o.idempotencyKey,
      requireNode: o.node,
      affinityKey: o.affinityKey,
      strategy: o.strategy as PlacementStrategy | undefined,
      name: o.name,
      ...(o.maxAttempts ? { retry: { maxAttempts: Number(o.maxAttempts) } } : {}),
      ...(labels || o.zone
        ? { constraints: { ...(labels ? { labels } : {}), ...(o.zone ? { zone: o.zone } : {}) } }
        : {}),
    };
    const job = await cluster.submitTask(task);
    if (!o.wait) {
      process.stdout.write(
        o.json ? `${JSON.stringify({ task_id: job.id, status: "pending" })}\n` : `${job.id}\n`,
      );
      return;
    }
    if (!o.json) process.stderr.write(`submitted ${job.id}\n`);
    const tty = process.stderr.isTTY === true;
    job.onProgress((p) => {
      if (o.json) return;
      const line = `${bar(p.percent)} ${p.message}`;
      process.stderr.write(tty ? `\r${line.padEnd(79)}` : `${line}\n`);
    });
    try {
      const r = await job.wait({
        timeout: o.waitTimeout,
        // A task no node can take waits, maybe for good: say why while it does.
        onWaiting: (reason) => {
          if (reason !== null) process.stderr.write(`${tty ? "\r" : ""}waiting: ${reason}\n`);
        },
      });
      if (tty && !o.json) process.stderr.write("\n");
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ task_id: job.id, status: "completed", node_id: r.nodeId, result: r.data })}\n`
          : `${JSON.stringify(r.data, null, 2)}\n`,
      );
    } catch (err) {
      if (tty && !o.json) process.stderr.write("\n");
      if (err instanceof TaskFailedError) {
        if (o.json)
          process.stdout.write(
            `${JSON.stringify({ task_id: job.id, status: err.status, error: { code: err.code, message: err.message } })}\n`,
          );
        else process.stderr.write(`oclaw submit: ${err.message}\n`);
        code = EXIT.failed;
      } else if (err instanceof WaitTimeoutError) {
        process.stderr.write(`oclaw submit: ${err.message}\n`);
        code = EXIT.failed;
      } else throw err;
    }
  } catch (err) {
    const usage =
      isOcError(err) && (err.code === "OC-4000" || err.code === "OC-4001" || err.code === "OC-4002");
    process.stderr.write(
      `oclaw submit: ${isOcError(err) ? `[${err.code}] ` : ""}${(err as Error).message}\n`,
    );
    code = usage || !isOcError(err) ? EXIT.usage : EXIT.failed;
  } finally {
    await cluster.close();
  }
  process.exit(code);
}

export function registerSubmitCommand(program: Command): void {
  program
    .command("submit")
    .description(
      "submit a task that needs these skills (the first one runs); prints its id, or its result with --wait",
    )
    .argument("<skills...>", "skill names; the first is the skill that runs")
    .option("--payload <json|@file>", "the task's input as JSON, or @path to a JSON file")
    .option("--priority <p>", "critical|high|normal|low")
    .option("--timeout <duration>", "e.g. 30s, 10m (the cluster's tasks.default_timeout when absent)")
    .option("--id <id>", "your id for the task; the same id again gives the same task")
    .option("--idempotency-key <key>", "the same key again gives the same task")
    .option("--labels <k=v,...>", "the node must have these labels")
    .option("--zone <zone>", "the node must be in this zone")
    .option("--node <id-or-role>", "run on this node, or a node with this role label")
    .option("--affinity-key <key>", "tasks with the same key go to the same node (strategy hash)")
    .option("--strategy <s>", "least-loaded|round-robin|random|hash|adaptive")
    .option("--max-attempts <n>", "attempts in all, the first included")
    .option("--name <name>", "a name to show")
    .option("--wait", "wait for the result (progress on stderr); exit 1 if the task fails")
    .option("--wait-timeout <duration>", "stop waiting after this long (the task goes on)")
    .option("--json", "print JSON for scripts")
    .option("-c, --config <file>", "config file; default ./config.yaml if present")
    .option("--secrets <file>", "secrets file")
    .option("--nats-url <url>", "NATS server URL(s)")
    .action((skills: string[], opts: SubmitOptions) => submit(skills, opts));
}
