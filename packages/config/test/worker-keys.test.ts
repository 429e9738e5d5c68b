import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/index.js";
import { tempCwd as cwd, errorLines } from "./helpers.js";

// Hardening item 9: command skills saw the worker's whole environment (OPENCLAW_API_KEYS from a
// shared systemd environment file included); worker.skill_env lists what they see.
describe("worker.skill_env", () => {
  it("defaults to the variables a program needs to run, and nothing that holds secrets", () => {
    const env = loadConfig({ cwd: cwd(), env: {} }).config.worker.skill_env;
    expect(env).toEqual(["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_*", "TZ", "TMPDIR"]);
  });

  it("is set from OPENCLAW_SKILL_ENV, comma separated, with prefixes ending in *", () => {
    const loaded = loadConfig({ cwd: cwd(), env: { OPENCLAW_SKILL_ENV: "PATH, PYTHONPATH,LC_*" } });
    expect(loaded.config.worker.skill_env).toEqual(["PATH", "PYTHONPATH", "LC_*"]);
  });

  it("refuses what is not a variable name, saying what is allowed", () => {
    const lines = errorLines(() => loadConfig({ cwd: cwd(), env: { OPENCLAW_SKILL_ENV: "PATH,MY-VAR,*" } }));
    expect(lines.join("\n")).toMatch(
      /worker\.skill_env.*OPENCLAW_SKILL_ENV.*must be an environment variable name \(letters, digits, _\), or a prefix of one ending in \* \(LC_\*\)/,
    );
  });
});

// Hardening item 11: a worker could take the id 'online' or 'skills', which GET /api/v1/nodes/online
// and /api/v1/nodes/skills/:skill shadow.
describe("worker.node_id", () => {
  it.each(["online", "skills"])("refuses the reserved id %j", (id) => {
    const lines = errorLines(() => loadConfig({ cwd: cwd(), env: {}, flags: { "--node-id": id } }));
    expect(lines.join("\n")).toMatch(
      new RegExp(
        `worker\\.node_id = "${id}" \\(from --node-id\\): node id is reserved: /api/v1/nodes/${id} is an API route`,
      ),
    );
  });
});
