import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger, type Logger } from "@openclaw/log";
import { isOcError, tokenProblem } from "@openclaw/protocol";
import { runSkillOnce, scanSkills } from "@openclaw/worker";
import { type Command, Option } from "commander";
import { bar } from "../render.js";
import { EXIT } from "./service.js";

/** Languages `oclaw skill init` writes a skill in. */
export const SKILL_LANGUAGES = ["js", "ts", "python", "bash"] as const;
export type SkillLanguage = (typeof SKILL_LANGUAGES)[number];

/** Says what went wrong in one line on stderr and exits with `code`. */
function fail(command: string, message: string, code: number): never {
  process.stderr.write(`oclaw skill ${command}: ${message.replace(/\s*\r?\n\s*/g, " | ")}\n`);
  process.exit(code);
}

/** `s` as one shell word: plain when it is safe, else in single quotes. */
function shellWord(s: string): string {
  return /^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The name as a YAML scalar: quoted when YAML would read it as something else (`123`, `true`). */
function yamlName(name: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]*$/.test(name) && !/^(true|false|null)$/i.test(name)
    ? name
    : JSON.stringify(name);
}

const EXAMPLE_PAYLOAD = '{"name":"Ada"}';

interface SkillFile {
  path: string;
  text: string;
  executable?: boolean;
}

/** The files of a new skill: SKILL.md and a runnable entry in `lang`. */
export function skillFiles(name: string, lang: SkillLanguage, runHint: string): SkillFile[] {
  // One plain YAML line: no ": " or " #" in it.
  const description = `Says hello, a step at a time. Replace this line with what ${name} does.`;
  const command = lang === "python" ? 'command: ["python3", "main.py"]\n' : "";
  const how: Record<SkillLanguage, string> = {
    js: "A JS module skill: `index.mjs` exports `run(input, ctx)`.",
    ts: "A TypeScript module skill: `index.ts` exports `run(input, ctx)`; the worker loads it through tsx, no build step.",
    python:
      "A command skill: the worker runs `python3 main.py` (the `command` above) with the task as JSON on stdin; it prints the result as JSON on stdout and `::progress` / `::checkpoint` lines on stderr.",
    bash: "A command skill: the worker runs the executable `run` with the task as JSON on stdin; it prints the result as JSON on stdout and `::progress` / `::checkpoint` lines on stderr.",
  };
  const md = `---
name: ${yamlName(name)}
description: ${description}
version: 0.1.0
${command}---

# ${name}

${how[lang]}

Input \`{ "name": "Ada", "steps": 3 }\` (both optional); result
\`{ "greeting": "Hello, Ada!", "steps": 3, "resumed_from": 0 }\`.

Each step saves a checkpoint (\`{ "step": n }\`) and reports progress; a retry resumes from the
last checkpoint. A cancelled task stops at the next step.

Run it on this machine, without a cluster:

\`\`\`sh
${runHint}
\`\`\`
`;
  const files: SkillFile[] = [{ path: "SKILL.md", text: md }];
  switch (lang) {
    case "js":
      files.push({ path: "index.mjs", text: JS_SKILL });
      break;
    case "ts":
      files.push({ path: "index.ts", text: TS_SKILL });
      break;
    case "python":
      files.push({ path: "main.py", text: PYTHON_SKILL, executable: true });
      break;
    case "bash":
      files.push({ path: "run", text: BASH_SKILL, executable: true });
      break;
  }
  return files;
}

const JS_SKILL = `import { setTimeout as sleep } from "node:timers/promises";

/**
 * Runs one attempt of a task. \`input\` is the task's payload; what this returns is its result
 * (JSON). \`ctx\`: progress(percent, message), checkpoint(data), lastCheckpoint, signal, log.
 */
export async function run(input, ctx) {
  const name = typeof input?.name === "string" ? input.name : "world";
  const steps = Number.isInteger(input?.steps) && input.steps > 0 ? input.steps : 3;
  // A retry resumes from the last checkpoint an earlier attempt saved.
  const from = ctx.lastCheckpoint?.step ?? 0;
  for (let step = from + 1; step <= steps; step++) {
    // Rejects when the task is cancelled or times out (Ctrl+C under oclaw skill run).
    await sleep(100, undefined, { signal: ctx.signal }); // stands in for the real work
    await ctx.checkpoint({ step });
    ctx.progress((step / steps) * 100, \`step \${step} of \${steps}\`);
  }
  ctx.log.info({ name }, "greeted");
  return { greeting: \`Hello, \${name}!\`, steps, resumed_from: from };
}
`;

const TS_SKILL = `import { setTimeout as sleep } from "node:timers/promises";
import type { SkillContext } from "@openclaw/worker";

interface Input {
  name?: string;
  steps?: number;
}

interface Checkpoint {
  step: number;
}

/**
 * Runs one attempt of a task. \`input\` is the task's payload; what this returns is its result
 * (JSON). \`ctx\`: progress(percent, message), checkpoint(data), lastCheckpoint, signal, log.
 */
export async function run(input: Input | null, ctx: SkillContext) {
  const name = typeof input?.name === "string" ? input.name : "world";
  const steps = typeof input?.steps === "number" && Number.isInteger(input.steps) && input.steps > 0 ? input.steps : 3;
  // A retry resumes from the last checkpoint an earlier attempt saved.
  const from = (ctx.lastCheckpoint as Checkpoint | undefined)?.step ?? 0;
  for (let step = from + 1; step <= steps; step++) {
    // Rejects when the task is cancelled or times out (Ctrl+C under oclaw skill run).
    await sleep(100, undefined, { signal: ctx.signal }); // stands in for the real work
    await ctx.checkpoint({ step } satisfies Checkpoint);
    ctx.progress((step / steps) * 100, \`step \${step} of \${steps}\`);
  }
  ctx.log.info({ name }, "greeted");
  return { greeting: \`Hello, \${name}!\`, steps, resumed_from: from };
}
`;

const PYTHON_SKILL = `#!/usr/bin/env python3
"""Runs one attempt of a task, as a command skill.

stdin:  {"task_id": ..., "attempt": 1, "payload": ..., "checkpoint": <last checkpoint or null>}
stdout: the result, one JSON value and nothing else (print logs to stderr)
stderr: "::progress <percent> <message>" and "::checkpoint <json>" lines; other lines are logs
On cancel or timeout the command gets SIGTERM, which ends Python at once.
"""
import json
import sys
import time


def progress(percent, message=""):
    print(f"::progress {percent:.0f} {message}", file=sys.stderr, flush=True)


def checkpoint(data):
    print(f"::checkpoint {json.dumps(data)}", file=sys.stderr, flush=True)


def main():
    task = json.load(sys.stdin)
    payload = task.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    name = payload.get("name", "world")
    steps = payload.get("steps", 3)
    # A retry resumes from the last checkpoint an earlier attempt saved.
    resumed_from = (task.get("checkpoint") or {}).get("step", 0)
    for step in range(resumed_from + 1, steps + 1):
        time.sleep(0.1)  # stands in for the real work
        checkpoint({"step": step})
        progress(step * 100 / steps, f"step {step} of {steps}")
    print(json.dumps({"greeting": f"Hello, {name}!", "steps": steps, "resumed_from": resumed_from}))


if __name__ == "__main__":
    main()
`;

const BASH_SKILL = `#!/usr/bin/env bash
# Runs one attempt of a task, as a command skill.
#
# stdin:  {"task_id":...,"attempt":1,"payload":...,"checkpoint":<last checkpoint or null>}
# stdout: the result, one JSON value and nothing else (echo logs to stderr: >&2)
# stderr: "::progress <percent> <message>" and "::checkpoint <json>" lines; other lines are logs
# On cancel or timeout the command's process group gets SIGTERM, which ends bash and its sleep.
set -euo pipefail

task=$(cat)

# Bash has no JSON parser: sed picks these simple fields out. Use jq (or another language) for more.
name=$(printf '%s' "$task" | sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\\([^"\\\\]*\\)".*/\\1/p')
steps=$(printf '%s' "$task" | sed -n 's/.*"steps"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p')
# A retry resumes from the last checkpoint an earlier attempt saved.
from=$(printf '%s' "$task" | sed -n 's/.*"checkpoint"[[:space:]]*:[[:space:]]*{[[:space:]]*"step"[[:space:]]*:[[:space:]]*\\([0-9][0-9]*\\).*/\\1/p')
name=\${name:-world}
steps=\${steps:-3}
from=\${from:-0}

for ((step = from + 1; step <= steps; step++)); do
  sleep 0.1 # stands in for the real work
  echo "::checkpoint {\\"step\\":$step}" >&2
  echo "::progress $((step * 100 / steps)) step $step of $steps" >&2
done

printf '{"greeting":"Hello, %s!","steps":%d,"resumed_from":%d}\\n' "$name" "$steps" "$from"
`;

interface InitOptions {
  lang: SkillLanguage;
  dir: string;
}

/** `oclaw skill init <name>`: writes a runnable skill folder `<dir>/<name>/`. */
export async function skillInit(name: string, o: InitOptions): Promise<void> {
  const problem = tokenProblem(name);
  if (problem) {
    fail(
      "init",
      `invalid skill name '${name}': it ${problem} (a skill name is a NATS subject token)`,
      EXIT.usage,
    );
  }
  const folder = join(o.dir, name);
  const refuse = () =>
    fail("init", `${folder} already exists; nothing written (pick another name or --dir)`, EXIT.usage);
  if (statSync(folder, { throwIfNoEntry: false })) refuse();
  const existing = statSync(o.dir, { throwIfNoEntry: false });
  if (existing && !existing.isDirectory()) fail("init", `${o.dir} is not a folder`, EXIT.usage);
  if (existing) {
    // A worker skips the second folder that claims a name: refuse before writing it.
    const taken = (await scanSkills(o.dir)).locations.get(name);
    if (taken) fail("init", `${taken.dir} already holds a skill named '${name}'`, EXIT.usage);
  }
  try {
    mkdirSync(o.dir, { recursive: true });
    mkdirSync(folder);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EEXIST") refuse();
    fail("init", `cannot create ${folder}: ${e.message}`, EXIT.failed);
  }
  const runHint = `oclaw skill run ${shellWord(folder)} --payload '${EXAMPLE_PAYLOAD}'`;
  const files = skillFiles(name, o.lang, runHint);
  for (const f of files) {
    const path = join(folder, f.path);
    writeFileSync(path, f.text, { mode: f.executable ? 0o755 : 0o644 });
    // The mode given to writeFileSync passes through the umask; a command must be executable.
    if (f.executable) chmodSync(path, 0o755);
  }
  const kind = o.lang === "python" || o.lang === "bash" ? "command" : "module";
  const lines = [
    `created ${o.lang} ${kind} skill '${name}' in ${folder}/`,
    ...files.map((f) => `  ${join(folder, f.path)}`),
    "",
    "run it here, without a cluster:",
    `  ${runHint}`,
    "run it on a cluster (a worker whose skills folder holds it):",
    `  oclaw up --skills-dir ${shellWord(o.dir)}`,
    `  oclaw submit ${name} --payload '${EXAMPLE_PAYLOAD}' --wait`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

interface RunOptions {
  payload?: string;
  payloadFile?: string;
  checkpoint?: string;
  json?: boolean;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    fail("run", `${what} is not JSON: ${(err as Error).message}`, EXIT.usage);
  }
}

/** Progress, checkpoints and log lines on stderr; on a terminal, progress is a bar redrawn in place. */
class StderrView {
  readonly #tty: boolean;
  #bar: string | undefined;

  constructor(tty: boolean) {
    this.#tty = tty;
  }

  line(text: string): void {
    if (this.#bar !== undefined) process.stderr.write("\r\x1b[K");
    process.stderr.write(`${text}\n`);
    if (this.#bar !== undefined) process.stderr.write(this.#bar);
  }

  progress(percent: number, message: string): void {
    if (!this.#tty) {
      process.stderr.write(`progress ${percent.toFixed(0).padStart(3)}% ${message}\n`);
      return;
    }
    const width = Math.max(20, (process.stderr.columns || 80) - 1);
    this.#bar = `${bar(percent)} ${message}`.slice(0, width);
    process.stderr.write(`\r\x1b[K${this.#bar}`);
  }

  /** Leaves the bar's line, so what follows starts on a line of its own. */
  end(): void {
    if (this.#bar !== undefined) process.stderr.write("\n");
    this.#bar = undefined;
  }
}

/** The fields a log line of the skill shows beyond its level and message. */
const LOG_BASE = new Set(["level", "timestamp", "service", "instance", "message", "task_id", "attempt"]);

/** ctx.log, and a command's other stderr lines, as readable lines on stderr. */
function viewLogger(view: StderrView): Logger {
  return createLogger({
    service: "skill",
    instance: "local",
    level: "debug",
    destination: {
      write(line: string) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          view.line(line.trimEnd());
          return;
        }
        // A command's own stderr, shown as it printed it.
        if (entry.message === "skill stderr" && typeof entry.stderr === "string") {
          view.line(entry.stderr);
          return;
        }
        const rest = Object.fromEntries(Object.entries(entry).filter(([k]) => !LOG_BASE.has(k)));
        const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : "";
        view.line(`${String(entry.level)} ${String(entry.message ?? "")}${fields}`);
      },
    },
  });
}

/** `oclaw skill run <dir>`: runs a skill folder once in this process, as a worker would run it. */
export async function skillRun(dir: string, o: RunOptions): Promise<void> {
  if (o.payload !== undefined && o.payloadFile !== undefined) {
    fail("run", "give --payload or --payload-file, not both", EXIT.usage);
  }
  let payload: unknown = null;
  if (o.payload !== undefined) payload = parseJson(o.payload, "--payload");
  if (o.payloadFile !== undefined) {
    const from = o.payloadFile === "-" ? "stdin" : o.payloadFile;
    let text: string;
    try {
      text = readFileSync(o.payloadFile === "-" ? 0 : o.payloadFile, "utf8");
    } catch (err) {
      fail("run", `--payload-file: cannot read ${from}: ${(err as Error).message}`, EXIT.usage);
    }
    payload = parseJson(text, `--payload-file (${from})`);
  }
  const lastCheckpoint = o.checkpoint === undefined ? undefined : parseJson(o.checkpoint, "--checkpoint");
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    fail("run", `${dir} is not a folder (give a skill's folder, the one holding its SKILL.md)`, EXIT.usage);
  }

  const view = new StderrView(process.stderr.isTTY === true);
  const controller = new AbortController();
  let cancelledBy: NodeJS.Signals | undefined;
  // A skill is stopped within a few seconds of the first signal (a module's thread is ended after a
  // second, a command is killed 3 s after its SIGTERM). Later signals do not hurry it: exiting
  // before then would leave a command that ignores SIGTERM running on its own.
  const onSignal = (sig: NodeJS.Signals) => {
    if (cancelledBy) {
      view.line(`${sig}: already cancelling; the skill is stopped within 3 s`);
      return;
    }
    cancelledBy = sig;
    view.line(`${sig}: cancelling the skill`);
    controller.abort(new DOMException(`cancelled (${sig})`, "AbortError"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let run: Awaited<ReturnType<typeof runSkillOnce>>;
  try {
    run = await runSkillOnce(dir, payload, {
      signal: controller.signal,
      lastCheckpoint,
      log: viewLogger(view),
      onProgress: (percent, message) => view.progress(percent, message),
      onCheckpoint: (data) => view.line(`checkpoint ${JSON.stringify(data)}`),
    });
  } catch (err) {
    view.end();
    // The folder is not a skill (OC-3001): what to fix is in the message.
    fail("run", `${isOcError(err) ? `[${err.code}] ` : ""}${(err as Error).message}`, EXIT.usage);
  }
  view.end();
  const { outcome, skill } = run;
  const checkpoint = run.lastCheckpoint === undefined ? {} : { checkpoint: run.lastCheckpoint };
  if (outcome.ok) {
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ status: "completed", skill: skill.name, result: outcome.result, duration_ms: run.durationMs, ...checkpoint })}\n`
        : `${JSON.stringify(outcome.result, null, 2)}\n`,
    );
    process.exit(EXIT.ok);
  }
  const error = { ...outcome.error };
  if (cancelledBy && error.code === "OC-6005") error.message = `cancelled (${cancelledBy})`;
  if (o.json) {
    const status = error.code === "OC-6005" ? "cancelled" : "failed";
    process.stdout.write(
      `${JSON.stringify({ status, skill: skill.name, error, duration_ms: run.durationMs, ...checkpoint })}\n`,
    );
    process.exit(EXIT.failed);
  }
  // A command's stderr was shown as it came: the line ends with its last line rather than all of it.
  const at = error.message.indexOf("; stderr: ");
  const last = error.message
    .slice(at + "; stderr: ".length)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .pop();
  const message =
    at < 0 ? error.message : `${error.message.slice(0, at)}: ${last?.trim()} (its stderr is above)`;
  fail("run", `[${error.code}] ${message}`, EXIT.failed);
}

export function registerSkillCommands(program: Command): void {
  const skill = program
    .command("skill")
    .description("write a new skill folder, or run one on this machine without a cluster");
  skill
    .command("init")
    .description(
      "write a runnable skill folder <dir>/<name>/: SKILL.md and an entry that reports progress and checkpoints",
    )
    .argument("<name>", "the skill's name, what tasks ask for: 1-64 of A-Z a-z 0-9 _ -")
    .addOption(
      new Option("--lang <lang>", "the language of its entry").choices(SKILL_LANGUAGES).default("js"),
    )
    .option("--dir <dir>", "the skills folder to write it in", "./skills")
    .action((name: string, opts: InitOptions) => skillInit(name, opts));
  skill
    .command("run")
    .description(
      "run a skill folder once, here, as a worker runs it for a task: progress and checkpoints on stderr, the result as JSON on stdout; Ctrl+C cancels it",
    )
    .argument("<dir>", "the skill's folder (the one holding its SKILL.md)")
    .option("--payload <json>", "the task's input as JSON (default null)")
    .option("--payload-file <file>", "read the input as JSON from a file ('-' for stdin)")
    .option("--checkpoint <json>", "start from this checkpoint (ctx.lastCheckpoint), as a retry would")
    .option("--json", "print one line of JSON for scripts: status, result or error, last checkpoint")
    .action((dir: string, opts: RunOptions) => skillRun(dir, opts));
}
