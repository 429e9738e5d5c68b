/**
 * The SDK outside the clone, as docs/sdk.md tells a user to use it: `npm run sdk:pack`, the
 * `npm install` line it prints, run in a new project outside the repo, then the doc's own
 * examples (its first one, and the ES module and CommonJS apps of "Use the SDK in another
 * project"), copied out of the doc and run as they are against a real cluster of separate
 * processes.
 */
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOC = readFileSync(join(ROOT, "docs", "sdk.md"), "utf8");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a command a user types: none of the npm_* variables that `npx vitest` or
 * `npm test` set (npm_config_local_prefix would point an inner npm at this repo) and none of
 * vitest's.
 */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|NODE_OPTIONS$|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs a command to its end (killed after `timeoutMs`), with its output. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; shell?: boolean; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? userEnv(),
      shell: options.shell ?? false,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The doc's fenced ```js blocks after `heading` (the whole doc when null), in order. */
function jsBlocks(heading: string | null): string[] {
  const from = heading === null ? 0 : DOC.indexOf(heading);
  if (from < 0) throw new Error(`docs/sdk.md has no heading ${heading}`);
  return [...DOC.slice(from).matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/** @openclaw/cluster and the workspace packages it depends on at run time, transitively. */
function runtimeClosure(): string[] {
  const dirs = new Map<string, string>();
  for (const base of ["packages", "services"]) {
    for (const d of readdirSync(join(ROOT, base))) {
      const file = join(ROOT, base, d, "package.json");
      if (existsSync(file)) dirs.set(JSON.parse(readFileSync(file, "utf8")).name, file);
    }
  }
  const seen: string[] = [];
  const queue = ["@openclaw/cluster"];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.includes(name)) continue;
    seen.push(name);
    const pkg = JSON.parse(readFileSync(dirs.get(name) as string, "utf8"));
    for (const dep of Object.keys(pkg.dependencies ?? {})) if (dirs.has(dep)) queue.push(dep);
  }
  return seen.sort();
}

let c: TestCluster;
/** Outside the repo: the tarballs, and the project they are installed in. */
let tmp: string;
let app: string;
let pack: Run;
let installLine: string;
let install: Run;
let clusterEnv: NodeJS.ProcessEnv;

async function packAndInstall(): Promise<void> {
  // As the doc says, in the clone: `npm run sdk:pack` (here to a folder of its own).
  pack = await run("npm", ["run", "sdk:pack", "--", "--out", join(tmp, "sdk-dist")], {
    cwd: ROOT,
    timeoutMs: 180_000,
  });
  if (pack.code !== 0) throw new Error(`npm run sdk:pack failed:\n${pack.stdout}\n${pack.stderr}`);
  const line = pack.stdout.split("\n").find((l) => /^\s*npm install /.test(l));
  if (!line) throw new Error(`sdk:pack printed no npm install line:\n${pack.stdout}`);
  installLine = line.trim();

  const init = await run("npm", ["init", "-y"], { cwd: app, timeoutMs: 60_000 });
  if (init.code !== 0) throw new Error(`npm init -y failed: ${init.stderr}`);
  // The printed line as it is, with npm's cache first (the registry only for what it lacks) and
  // every request it makes logged.
  install = await run(`${installLine} --prefer-offline --no-audit --no-fund --loglevel=http`, [], {
    cwd: app,
    shell: true,
    timeoutMs: 300_000,
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "oc-sdk-install-"));
  app = join(tmp, "my-app");
  mkdirSync(app);
  const installed = packAndInstall();
  const started = (async () => {
    c = await startTestCluster();
    c.spawn("registry");
    c.spawn("health-monitor");
    const scheduler = c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
    const api = (await c.coordinator()).url;
    await c.worker("w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"]);
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 1);
    await scheduler.waitForLog((l) => l.message === "elected leader", 20_000);
    clusterEnv = userEnv({ NATS_URL: c.nats.url, OPENCLAW_SUBJECT_PREFIX: c.prefix });
  })();
  const [a, b] = await Promise.allSettled([installed, started]);
  for (const r of [a, b]) if (r.status === "rejected") throw r.reason;
}, 600_000);

afterAll(async () => {
  await c?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Writes `code` into the app and runs it with node, against the test cluster. */
function runInApp(file: string, code: string): Promise<Run> {
  writeFileSync(join(app, file), code);
  return run(process.execPath, [file], { cwd: app, env: clusterEnv, timeoutMs: 90_000 });
}

const OPENCLAW = runtimeClosure();
const tarball = (name: string) => `${name.replace(/^@/, "").replace("/", "-")}-0.1.0.tgz`;

describe("the SDK in another project (npm run sdk:pack, npm install of its tarballs)", () => {
  it("sdk:pack writes tarballs of @openclaw/cluster and exactly its runtime workspace dependencies, and prints one npm install of them", () => {
    expect(OPENCLAW).toEqual([
      "@openclaw/bus",
      "@openclaw/cluster",
      "@openclaw/config",
      "@openclaw/log",
      "@openclaw/protocol",
    ]);
    const written = readdirSync(join(tmp, "sdk-dist")).sort();
    expect(written).toEqual(OPENCLAW.map(tarball).sort());
    expect(installLine.startsWith("npm install ")).toBe(true);
    const args = installLine.slice("npm install ".length).split(" ").sort();
    expect(args).toEqual(OPENCLAW.map((n) => join(tmp, "sdk-dist", tarball(n))).sort());
  });

  it("the printed npm install works outside the repo and never asks the registry for an @openclaw package", () => {
    expect(install.code, install.stderr.slice(-3000)).toBe(0);
    // --loglevel=http logs every request: none is for @openclaw/*.
    expect(install.stderr).toContain("npm http");
    expect(install.stderr).not.toMatch(/GET \d+ \S*@openclaw/i);
    expect(install.stderr).not.toMatch(/registry\S*openclaw/i);

    const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8")) as {
      packages: Record<string, { resolved?: string; version?: string }>;
    };
    const entries = Object.entries(lock.packages).filter(([k]) => k.includes("@openclaw/"));
    // One copy of each, at the top, from its tarball.
    expect(entries.map(([k]) => k).sort()).toEqual(OPENCLAW.map((n) => `node_modules/${n}`));
    for (const [k, v] of entries) {
      const name = k.slice("node_modules/".length);
      expect(v.resolved).toBe(`file:../sdk-dist/${tarball(name)}`);
    }
    for (const name of OPENCLAW) {
      // Each package holds only package.json and dist/.
      const dir = join(app, "node_modules", name);
      expect(readdirSync(dir).sort(), name).toEqual(["dist", "package.json"]);
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      for (const [dep, spec] of Object.entries(pkg.dependencies ?? {})) {
        if (dep.startsWith("@openclaw/")) expect(spec).toBe(`file:./${tarball(dep)}`);
      }
      expect(pkg.scripts).toBeUndefined();
    }
  });

  it("an ES module imports it: the doc's app.mjs submits echo, waits, and map-reduces word counts", async () => {
    const esm = jsBlocks("## Use the SDK in another project").find((b) => b.includes("import {"));
    expect(esm).toContain('import { OpenClawCluster } from "@openclaw/cluster";');
    const r = await runInApp("app.mjs", esm as string);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      'echo on w1: {"hello":"from my-app"}',
      'counts: {"a":1,"b":2,"c":1}',
      "",
    ]);
    expect(r.stderr).not.toMatch(/error|warning/i);
  });

  it("CommonJS requires it: the doc's app.cjs does the same", async () => {
    const cjs = jsBlocks("## Use the SDK in another project").find((b) => b.includes("require("));
    expect(cjs).toContain('const { OpenClawCluster } = require("@openclaw/cluster");');
    const r = await runInApp("app.cjs", cjs as string);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      'echo on w1: {"hello":"from my-app"}',
      'counts: {"a":1,"b":2,"c":1}',
      "",
    ]);
    expect(r.stderr).not.toMatch(/error|warning/i);
  });

  it("the doc's first example runs as written: status, route, a task with progress, a map-reduce", async () => {
    const first = jsBlocks(null)[0] as string;
    expect(first).toContain("new OpenClawCluster()");
    const r = await runInApp("sdk-example.mjs", first);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^nodes 1\/1, active tasks \d+, queued \d+$/);
    expect(lines).toContain("ran on w1: { slept_ms: 2000, steps: 4, resumed_from: 0 }");
    expect(lines.filter((l) => /^\d+% step \d of 4$/.test(l)).length).toBeGreaterThan(0);
    expect(lines.at(-1)).toBe("{ the: 2, cat: 1, dog: 1 }");
  });

  it("a configPath that does not exist fails at once, in one line with OC-1002", async () => {
    const r = await runInApp(
      "missing-config.cjs",
      [
        'const { OpenClawCluster, isOcError } = require("@openclaw/cluster");',
        "try {",
        '  new OpenClawCluster({ configPath: "./cluster-config.yaml" });',
        "} catch (err) {",
        "  console.log(isOcError(err), err.code, err.message);",
        "}",
        "",
      ].join("\n"),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `true OC-1002 configPath "./cluster-config.yaml" (${join(app, "cluster-config.yaml")}): no such file\n`,
    );
  });
});
