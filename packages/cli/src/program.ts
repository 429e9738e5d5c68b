import { envWarnings } from "@openclaw/config";
import { CLUSTER_VERSION } from "@openclaw/protocol";
import { Command } from "commander";
import { registerDrainCommands } from "./commands/drain.js";
import { registerLeaderCommands } from "./commands/leaders.js";
import { registerNodeCommands } from "./commands/nodes.js";
import { registerServiceCommands, SERVICES } from "./commands/service.js";
import { registerSkillCommands } from "./commands/skill.js";
import { registerStatusCommand } from "./commands/status.js";
import { registerSubmitCommand } from "./commands/submit.js";
import { registerTaskCommands } from "./commands/tasks.js";
import { registerUpCommand } from "./commands/up.js";

export function buildProgram(): Command {
  const program = new Command("oclaw")
    .description("OpenClaw Cluster: run many OpenClaw agent machines as one cluster")
    .version(CLUSTER_VERSION)
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors exit 2; --help and --version exit 0.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  // A misspelt OPENCLAW_* variable is ignored: say so once. A service says it in its log instead.
  program.hook("preAction", (_program, action) => {
    if (action.parent === program && Object.hasOwn(SERVICES, action.name())) return;
    for (const line of envWarnings(process.env)) process.stderr.write(`oclaw: warning: ${line}\n`);
  });
  registerUpCommand(program);
  registerServiceCommands(program);
  registerStatusCommand(program);
  registerNodeCommands(program);
  registerSubmitCommand(program);
  registerTaskCommands(program);
  registerLeaderCommands(program);
  registerDrainCommands(program);
  registerSkillCommands(program);
  return program;
}
