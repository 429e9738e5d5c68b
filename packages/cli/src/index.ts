/**
 * The `oclaw` command. `oclaw up` starts a local cluster; `oclaw <service>` runs one service.
 *
 * ```ts
 * import { buildProgram } from "@openclaw/cli";
 * await buildProgram().parseAsync(["node", "oclaw", "registry", "--nats-url", url]);
 * ```
 */
export { EXIT, runService, SERVICES } from "./commands/service.js";
export { up } from "./commands/up.js";
export { buildProgram } from "./program.js";
