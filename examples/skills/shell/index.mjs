import { spawn } from "node:child_process";

/** Each of stdout and stderr is cut to this many characters in the result. */
const MAX_OUTPUT = 64 * 1024;

/**
 * Runs one command, without a shell, if its name is in the worker's `worker.allowed_commands`;
 * any other command is refused (a non-retryable failure). A non-zero exit is a result, not a
 * failure: the caller gets `exit_code` and both outputs.
 */
export function run(input, ctx) {
  const command = input?.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === "string")) {
    throw invalid('input.command must be a list of strings, e.g. ["ls", "-l"]');
  }
  const [name, ...args] = command;
  if (!ctx.config.allowedCommands.includes(name)) {
    const allowed = ctx.config.allowedCommands.join(", ") || "none";
    throw invalid(`command '${name}' is not allowed on this node (worker.allowed_commands: ${allowed})`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(name, args, { signal: ctx.signal, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s) => {
      stdout = (stdout + s).slice(0, MAX_OUTPUT);
    });
    child.stderr.setEncoding("utf8").on("data", (s) => {
      stderr = (stderr + s).slice(0, MAX_OUTPUT);
    });
    child.on("error", (err) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason);
      else reject(Object.assign(new Error(`cannot run '${name}': ${err.message}`), { retryable: false }));
    });
    child.on("close", (code, signal) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason);
      else resolve({ exit_code: code ?? null, signal: signal ?? null, stdout, stderr });
    });
  });
}

function invalid(message) {
  return Object.assign(new Error(message), { retryable: false });
}
