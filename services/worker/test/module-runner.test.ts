import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "@openclaw/log";
import { waitFor } from "@openclaw/testing";
import { afterAll, describe, expect, it } from "vitest";
import type { SkillContext } from "../src/context.js";
import { ModulePool, type ModulePoolOptions } from "../src/runtime/module-runner.js";
import { checkResult } from "../src/runtime/outcome.js";

/** A module skill file with `text` as its source. */
function skill(text: string, name = "index.mjs"): string {
  const file = join(mkdtempSync(join(tmpdir(), "oc-mod-")), name);
  writeFileSync(file, text);
  return file;
}

interface Seen {
  progress: [number, string | undefined][];
  checkpoints: unknown[];
  logs: { level: string; args: unknown[]; bindings?: unknown }[];
}

function fakeContext(o: { signal?: AbortSignal; payload?: unknown; checkpointFails?: boolean } = {}) {
  const seen: Seen = { progress: [], checkpoints: [], logs: [] };
  const log = (bindings?: unknown) => {
    const l = silentLogger();
    for (const level of ["info", "warn", "error"] as const) {
      l[level] = ((...args: unknown[]) => seen.logs.push({ level, args, bindings })) as never;
    }
    l.child = ((b: unknown) => log(b)) as never;
    return l;
  };
  const ctx: SkillContext = {
    taskId: "t-1",
    attempt: 2,
    nodeId: "n-1",
    payload: o.payload ?? { x: 1 },
    signal: o.signal ?? new AbortController().signal,
    lastCheckpoint: { done: 3 },
    log: log(),
    config: { allowedCommands: ["ls"] },
    progress: (percent, message) => seen.progress.push([percent, message]),
    async checkpoint(data) {
      await new Promise((r) => setTimeout(r, 20));
      if (o.checkpointFails) throw new Error("kv down");
      seen.checkpoints.push(data);
    },
  };
  return { ctx, seen };
}

const pools: ModulePool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

function pool(o: Partial<ModulePoolOptions> = {}): ModulePool {
  const p = new ModulePool({ maxThreads: 4, log: silentLogger(), ...o });
  pools.push(p);
  return p;
}

const shared = pool();

/** One attempt on the shared pool, or on `p`. */
function runModule(file: string, ctx: SkillContext, p: ModulePool = shared) {
  return p.run(file, ctx);
}

describe("a module skill in a pooled thread", () => {
  it("gets its input and ctx, forwards progress, checkpoints (confirmed) and logs, returns its result", async () => {
    const file = skill(`
      export async function run(input, ctx) {
        ctx.progress(50, "half");
        await ctx.checkpoint({ step: 1 });
        ctx.log.info({ k: 1 }, "hello");
        ctx.log.child({ part: "a" }).warn("from a child");
        return { input, taskId: ctx.taskId, attempt: ctx.attempt, nodeId: ctx.nodeId, payload: ctx.payload,
          last: ctx.lastCheckpoint, allowed: ctx.config.allowedCommands, aborted: ctx.signal.aborted };
      }`);
    const { ctx, seen } = fakeContext();
    expect(await runModule(file, ctx)).toEqual({
      ok: true,
      result: {
        input: { x: 1 },
        taskId: "t-1",
        attempt: 2,
        nodeId: "n-1",
        payload: { x: 1 },
        last: { done: 3 },
        allowed: ["ls"],
        aborted: false,
      },
    });
    expect(seen.progress).toEqual([[50, "half"]]);
    expect(seen.checkpoints).toEqual([{ step: 1 }]);
    expect(seen.logs).toEqual([
      { level: "info", args: [{ k: 1 }, "hello"], bindings: undefined },
      { level: "warn", args: ["from a child"], bindings: { part: "a" } },
    ]);
  });

  it("rejects the skill's checkpoint when the write fails", async () => {
    const file = skill(`
      export async function run(input, ctx) {
        try { await ctx.checkpoint(1); return "stored"; } catch (err) { return err.message; }
      }`);
    const { ctx } = fakeContext({ checkpointFails: true });
    expect(await runModule(file, ctx)).toEqual({ ok: true, result: "kv down" });
  });

  it("loads TypeScript, and a changed file in fresh threads", async () => {
    const file = skill("export const run = (i: { n: number }): number => i.n + 1;\n", "index.ts");
    const { ctx } = fakeContext({ payload: { n: 1 } });
    expect(await runModule(file, ctx)).toEqual({ ok: true, result: 2 });
    writeFileSync(file, "export const run = (i: { n: number }): number => i.n + 10;\n");
    // A different mtime even on a coarse clock. The file's stat is reused for up to a second.
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const fresh = await waitFor(
      async () => {
        const r = await runModule(file, ctx);
        return r.ok && r.result === 11 ? r : undefined;
      },
      { timeout: 5000, message: "the changed file was never loaded" },
    );
    expect(fresh).toEqual({ ok: true, result: 11 });
  });

  it("reuses a thread across attempts: the module is imported once", async () => {
    const p = pool();
    const file = skill("let n = 0;\nexport function run() { n += 1; return n; }\n");
    const { ctx } = fakeContext();
    const results: unknown[] = [];
    for (let i = 0; i < 3; i++) results.push(await runModule(file, ctx, p));
    expect(results).toEqual([1, 2, 3].map((result) => ({ ok: true, result })));
    expect(p.size).toBe(1);
  });

  it("runs attempts of one file side by side in threads of their own, at most maxThreads in all", async () => {
    const p = pool({ maxThreads: 2 });
    const slow = skill(
      "let n = 0;\nexport async function run() { n += 1; await new Promise((r) => setTimeout(r, 200)); return n; }\n",
    );
    const other = skill("export const run = () => 'other';\n");
    const { ctx } = fakeContext();
    const both = await Promise.all([runModule(slow, ctx, p), runModule(slow, ctx, p)]);
    expect(both).toEqual([
      { ok: true, result: 1 },
      { ok: true, result: 1 },
    ]);
    expect(p.size).toBe(2);
    // Full: another file's attempt closes an idle thread rather than starting a third.
    expect(await runModule(other, ctx, p)).toEqual({ ok: true, result: "other" });
    expect(p.size).toBe(2);
    expect(await runModule(slow, ctx, p)).toEqual({ ok: true, result: 2 });
  });

  it("closes threads idle for idleMs", async () => {
    const p = pool({ idleMs: 100 });
    const { ctx } = fakeContext();
    expect(await runModule(skill("export const run = () => 1;"), ctx, p)).toEqual({ ok: true, result: 1 });
    expect(p.size).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(p.size).toBe(0);
  });

  it("keeps a thrown error's message and retryability; load failures and missing functions", async () => {
    const { ctx } = fakeContext();
    const throws = skill(
      `export function run() { throw Object.assign(new Error("nope"), { retryable: false }); }`,
    );
    expect(await runModule(throws, ctx)).toMatchObject({
      ok: false,
      error: { code: "OC-6001", message: "nope", retryable: false },
    });
    const broken = skill("export function run( {");
    expect(await runModule(broken, ctx)).toMatchObject({
      ok: false,
      error: { code: "OC-6001", retryable: false },
    });
    const none = skill("export const x = 1;");
    expect(await runModule(none, ctx)).toMatchObject({ ok: false, error: { code: "OC-6008" } });
  });

  it("keeps what JSON keeps of a result that cannot be cloned", async () => {
    const file = skill(`export const run = () => ({ a: 1, f() {} });`);
    const { ctx } = fakeContext();
    expect(await runModule(file, ctx)).toEqual({ ok: true, result: { a: 1 } });
  });

  // Reproduction (hardening item 3): a skill returning a value nested 3,000 deep. Its thread's
  // reply could not be deserialized (a `messageerror`, logged at debug only), the attempt never
  // settled and held its slot until the task's timeout. Now the result comes back, and the
  // worker's result check refuses it (OC-6007).
  it("hands back a result nested thousands of levels deep at once, which the result check refuses", async () => {
    const file = skill(
      `export function run() { let v = 1; for (let i = 0; i < 3000; i++) v = { a: v }; return v; }`,
    );
    const { ctx } = fakeContext();
    const out = await runModule(file, ctx);
    expect(out.ok).toBe(true);
    expect(checkResult(out.ok ? out.result : null, 1_000_000)).toEqual({
      ok: false,
      error: {
        code: "OC-6007",
        message: "the result nests deeper than 64 levels of objects and arrays; the limit is 64",
        retryable: false,
      },
    });
    expect(checkResult({ a: [1, { b: 2 }] }, 100)).toEqual({ ok: true, result: { a: [1, { b: 2 }] } });
    let deeper: unknown = 1;
    for (let i = 0; i < 100_000; i++) deeper = [deeper];
    expect(checkResult(deeper, 1_000_000)).toMatchObject({ ok: false, error: { code: "OC-6007" } });
  });

  // Reproduction: any message of a skill's thread the worker cannot read (here a log value 3,000
  // deep) was dropped with a debug line, and the attempt waited for its timeout.
  it("fails the attempt at once with OC-6010 when a message from its thread cannot be read", async () => {
    const p = pool();
    const file = skill(`export async function run(input, ctx) {
      let v = 1; for (let i = 0; i < 3000; i++) v = { a: v };
      ctx.log.info({ v }, "deep");
      await new Promise((r) => setTimeout(r, 60_000));
      return "too late";
    }`);
    const { ctx } = fakeContext();
    const began = performance.now();
    const out = await runModule(file, ctx, p);
    expect(out).toMatchObject({ ok: false, error: { code: "OC-6010", retryable: false } });
    expect(!out.ok && out.error.message).toContain("could not be read");
    expect(performance.now() - began).toBeLessThan(30_000);
    // The thread is ended; the pool goes on.
    expect(p.size).toBe(0);
    const ok = skill("export const run = () => 'fine';");
    expect(await runModule(ok, ctx, p)).toEqual({ ok: true, result: "fine" });
  });

  it("fails the attempt with OC-6001 on a throw in a timer, an unhandled rejection or process.exit()", async () => {
    const { ctx } = fakeContext();
    const timer = skill(`export function run() {
      setTimeout(() => { throw new Error("from a timer"); }, 10);
      return new Promise((r) => setTimeout(r, 5000));
    }`);
    const rejection = skill(`export function run() {
      setTimeout(() => Promise.reject(new Error("left behind")), 10);
      return new Promise((r) => setTimeout(r, 5000));
    }`);
    const exits = skill(`export function run() { process.exit(3); }`);
    const a = await runModule(timer, ctx);
    expect(a).toMatchObject({ ok: false, error: { code: "OC-6001", retryable: true } });
    expect(!a.ok && a.error.message).toBe("an uncaught exception in the skill's thread: from a timer");
    const b = await runModule(rejection, ctx);
    expect(!b.ok && b.error.message).toBe("an unhandled rejection in the skill's thread: left behind");
    const c = await runModule(exits, ctx);
    expect(c).toMatchObject({ ok: false, error: { code: "OC-6001" } });
    expect(!c.ok && c.error.message).toContain("exited (code 3)");
    // The crashed threads are gone; the pool goes on.
    const ok = skill("export const run = () => 'fine';");
    expect(await runModule(ok, ctx)).toEqual({ ok: true, result: "fine" });
  });

  it("discards a thread that fails between attempts, and a later attempt gets a fresh one", async () => {
    const p = pool();
    const file = skill(`let n = 0;
      export function run() {
        n += 1;
        if (n === 1) setTimeout(() => { throw new Error("after run"); }, 20);
        return n;
      }`);
    const { ctx } = fakeContext();
    expect(await runModule(file, ctx, p)).toEqual({ ok: true, result: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(p.size).toBe(0);
    expect(await runModule(file, ctx, p)).toEqual({ ok: true, result: 1 });
  });

  it("fails with OC-6001 when the thread runs out of memory", async () => {
    const file = skill(`export function run() { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }`);
    const { ctx } = fakeContext();
    const out = await runModule(file, ctx, pool({ resourceLimits: { maxOldGenerationSizeMb: 32 } }));
    expect(out).toMatchObject({ ok: false, error: { code: "OC-6001" } });
  });

  it("on abort, aborts the skill's signal and lets it checkpoint before it ends", async () => {
    const file = skill(`export function run(input, ctx) {
      return new Promise((resolve, reject) => {
        ctx.signal.addEventListener("abort", async () => {
          await ctx.checkpoint({ reason: ctx.signal.reason.name + ": " + ctx.signal.reason.message });
          reject(ctx.signal.reason);
        });
      });
    }`);
    const controller = new AbortController();
    const { ctx, seen } = fakeContext({ signal: controller.signal });
    setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), 200);
    const began = performance.now();
    expect(await runModule(file, ctx)).toMatchObject({ ok: false, error: { code: "OC-6005" } });
    expect(performance.now() - began).toBeLessThan(3000);
    expect(seen.checkpoints).toEqual([{ reason: "TimeoutError: timed out" }]);
  });

  it("ends a busy loop, and a skill that ignores its signal, after the grace", async () => {
    for (const text of [
      "export function run() { for (;;) {} }",
      "export const run = () => new Promise(() => {});",
    ]) {
      const controller = new AbortController();
      const { ctx } = fakeContext({ signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      const began = performance.now();
      expect(await runModule(skill(text), ctx, pool({ abortGraceMs: 300 }))).toMatchObject({
        ok: false,
        error: { code: "OC-6005" },
      });
      expect(performance.now() - began).toBeGreaterThanOrEqual(450);
      expect(performance.now() - began).toBeLessThan(8000); // ended, not left running
    }
  });

  it("shares a thread among up to attemptsPerThread attempts of one file, side by side", async () => {
    const p = pool({ maxThreads: 2, attemptsPerThread: 3 });
    // Each attempt says how many ran at once in its thread.
    const file = skill(
      "let now = 0, most = 0;\nexport async function run() { now += 1; most = Math.max(most, now); await new Promise((r) => setTimeout(r, 150)); now -= 1; return most; }\n",
    );
    const { ctx } = fakeContext();
    const all = await Promise.all(Array.from({ length: 6 }, () => runModule(file, ctx, p)));
    expect(all.every((o) => o.ok)).toBe(true);
    expect(p.size).toBe(2);
    // Six attempts on two threads at once: three in each, not one after another.
    expect(Math.max(...all.map((o) => (o.ok ? Number(o.result) : 0)))).toBe(3);
  });

  it("hands back every attempt on a shared thread that one of them brought down (OC-6009)", async () => {
    const p = pool({ maxThreads: 1, attemptsPerThread: 2 });
    const file = skill(
      "export async function run(input) { if (input.crash) setTimeout(() => { throw new Error('boom'); }, 50); await new Promise((r) => setTimeout(r, 300)); return 'ok'; }\n",
    );
    const quiet = runModule(file, fakeContext({ payload: { crash: false } }).ctx, p);
    const crashing = runModule(file, fakeContext({ payload: { crash: true } }).ctx, p);
    for (const out of await Promise.all([quiet, crashing])) {
      expect(out).toMatchObject({ ok: false, error: { code: "OC-6009", retryable: true } });
      expect(out.ok ? "" : out.error.message).toContain("boom");
    }
    // A fresh thread for what comes next.
    expect(await runModule(file, fakeContext({ payload: { crash: false } }).ctx, p)).toEqual({
      ok: true,
      result: "ok",
    });
  });

  it("ends a stuck attempt after the grace while its thread-mates finish, then closes the thread", async () => {
    const p = pool({ maxThreads: 1, attemptsPerThread: 2, abortGraceMs: 200 });
    const file = skill(
      "export function run(input) { return input.stuck ? new Promise(() => {}) : new Promise((r) => setTimeout(() => r('done'), 600)); }\n",
    );
    const controller = new AbortController();
    const stuck = runModule(
      file,
      fakeContext({ payload: { stuck: true }, signal: controller.signal }).ctx,
      p,
    );
    const mate = runModule(file, fakeContext({ payload: { stuck: false } }).ctx, p);
    setTimeout(() => controller.abort(), 100);
    expect(await stuck).toMatchObject({ ok: false, error: { code: "OC-6005" } });
    expect(await mate).toEqual({ ok: true, result: "done" });
    // The thread with the stuck attempt on it takes nothing more, and is gone once its mate ended.
    expect(p.size).toBe(0);
  });
});
