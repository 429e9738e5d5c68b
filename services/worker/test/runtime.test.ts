import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@openclaw/log";
import { describe, expect, it } from "vitest";
import { runCommand } from "../src/runtime/command-runner.js";
import { checkResult, thrown } from "../src/runtime/outcome.js";
import { resolveRun } from "../src/runtime/resolve.js";
import { commandEnv, withoutUserinfo } from "../src/runtime/run-skill.js";

function folder(files: Record<string, string>, executable: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "oc-run-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  for (const name of executable) chmodSync(join(dir, name), 0o755);
  return dir;
}

describe("how a skill folder runs", () => {
  it("prefers a declared entry or command, then index.mjs, index.js, index.ts, then an executable run", async () => {
    const all = folder({ "index.mjs": "", "index.js": "", "index.ts": "", run: "" }, ["run"]);
    expect(await resolveRun("s", { dir: all })).toEqual({ kind: "module", file: join(all, "index.mjs") });
    const ts = folder({ "index.ts": "", run: "" }, ["run"]);
    expect(await resolveRun("s", { dir: ts })).toEqual({ kind: "module", file: join(ts, "index.ts") });
    const cmd = folder({ run: "" }, ["run"]);
    expect(await resolveRun("s", { dir: cmd })).toEqual({
      kind: "command",
      argv: [join(cmd, "run")],
      cwd: cmd,
    });
    expect(await resolveRun("s", { dir: all, entry: "index.ts" })).toMatchObject({
      file: join(all, "index.ts"),
    });
    expect(await resolveRun("s", { dir: all, command: ["./bin/go", "-v"] })).toEqual({
      kind: "command",
      argv: [join(all, "bin/go"), "-v"],
      cwd: all,
    });
    expect(await resolveRun("s", { dir: all, command: ["python3", "x.py"] })).toMatchObject({
      argv: ["python3", "x.py"],
    });
  });

  it("says why a folder cannot run", async () => {
    const plain = folder({ run: "" });
    expect(await resolveRun("s", { dir: plain })).toMatchObject({ kind: "none", message: /not executable/ });
    expect(await resolveRun("s", { dir: folder({}) })).toMatchObject({
      kind: "none",
      message: /no way to run/,
    });
    expect(await resolveRun("s", { dir: plain, entry: "gone.mjs" })).toMatchObject({
      kind: "none",
      message: /entry 'gone.mjs'/,
    });
    expect(await resolveRun("s", undefined)).toMatchObject({ kind: "missing" });
    expect(await resolveRun("s", { dir: "/nonexistent/skill" })).toMatchObject({ kind: "missing" });
  });
});

describe("outcomes", () => {
  it("keeps a thrown error's message and retryability", () => {
    expect(thrown(new Error("x"))).toEqual({
      ok: false,
      error: { code: "OC-6001", message: "x", retryable: true },
    });
    expect(thrown("plain string")).toMatchObject({ error: { message: "plain string" } });
    expect(thrown(Object.assign(new Error("y"), { retryable: false }))).toMatchObject({
      error: { retryable: false },
    });
  });

  it("turns results into JSON within the limit", () => {
    expect(checkResult(undefined, 10)).toEqual({ ok: true, result: null });
    expect(checkResult({ a: 1n }, 100)).toMatchObject({ error: { code: "OC-6003" } });
    expect(checkResult("x".repeat(20), 10)).toMatchObject({ error: { code: "OC-6007" } });
  });
});

// Hardening item 9: a command skill saw NATS_URL with credentials in its userinfo and everything
// in the worker's environment (OPENCLAW_API_KEYS from a shared systemd environment file).
describe("a command skill's environment", () => {
  const worker = {
    PATH: "/usr/bin:/bin",
    HOME: "/home/oc",
    LANG: "C.UTF-8",
    LC_TIME: "de_DE.UTF-8",
    OPENCLAW_API_KEYS: "k-0123456789abcdef0123456789",
    NATS_URL: "nats://alice:s3cret@nats-1:4222,tls://bob:pw@nats-2:4222,nats-3:4222",
    NATS_USER: "alice",
    NATS_PASSWORD: "s3cret",
    NATS_TOKEN: "t0ken",
    AWS_SECRET_ACCESS_KEY: "aws",
  };
  const ctx = { taskId: "t-1", attempt: 2 };

  it("holds only the listed variables (and prefixes), plus the task id and attempt", () => {
    const env = commandEnv(ctx, ["PATH", "HOME", "LC_*", "TZ"], worker);
    expect(env).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/oc",
      LC_TIME: "de_DE.UTF-8",
      OPENCLAW_TASK_ID: "t-1",
      OPENCLAW_ATTEMPT: "2",
    });
  });

  it("never passes NATS credentials, even when listed, and strips them from a listed NATS_URL", () => {
    const env = commandEnv(ctx, ["NATS_*", "OPENCLAW_TASK_ID"], worker);
    expect(env).toEqual({
      NATS_URL: "nats://nats-1:4222,tls://nats-2:4222,nats-3:4222",
      OPENCLAW_TASK_ID: "t-1",
      OPENCLAW_ATTEMPT: "2",
    });
    expect(withoutUserinfo("user:pw@host:4222")).toBe("host:4222");
    expect(withoutUserinfo("nats://u:p@ss@host:4222")).toBe("nats://host:4222");
    expect(withoutUserinfo("nats://host:4222")).toBe("nats://host:4222");
  });
});

describe("command runner", () => {
  const base = {
    cwd: tmpdir(),
    input: {},
    env: process.env,
    maxStdoutBytes: 1000,
    killGraceMs: 200,
    onProgress: () => undefined,
    onCheckpoint: () => undefined,
    log: silentLogger(),
  };

  it("reports stdout beyond the limit as OC-6007", async () => {
    const outcome = await runCommand({
      ...base,
      argv: ["node", "-e", "process.stdout.write(JSON.stringify('x'.repeat(5000)))"],
      signal: new AbortController().signal,
    });
    expect(outcome).toMatchObject({ ok: false, error: { code: "OC-6007" } });
  });

  it("does not wait for a background child that keeps stdout open", async () => {
    const started = Date.now();
    const outcome = await runCommand({
      ...base,
      argv: ["sh", "-c", "sleep 30 & echo '{\"ok\":true}'"],
      signal: new AbortController().signal,
    });
    expect(outcome).toEqual({ ok: true, result: { ok: true } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("stops the whole process group on abort", async () => {
    const abort = new AbortController();
    const running = runCommand({ ...base, argv: ["sh", "-c", "sleep 30; sleep 30"], signal: abort.signal });
    abort.abort();
    expect(await running).toMatchObject({ ok: false, error: { code: "OC-6005" } });
  });
});
