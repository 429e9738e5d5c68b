import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, encode, type ServiceContext } from "@openclaw/bus";
import { Checkpoint, envelope, NodeDrain, type TaskDispatch } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXAMPLE_SKILLS,
  FIXTURE_SKILLS,
  SchedulerDouble,
  schedulerContext,
  skillsDir,
  startTestWorker,
  taskId,
  taskSpec,
} from "./harness.js";

const NODE = "w1";
let nats: NatsServer;
let prefix: string;
let schedCtx: ServiceContext;
let sched: SchedulerDouble;
let w: Awaited<ReturnType<typeof startTestWorker>>;
let dir: string;

beforeAll(async () => {
  nats = await startNatsServer();
  prefix = uniquePrefix();
  schedCtx = await schedulerContext(nats.url, prefix);
  sched = await SchedulerDouble.start(schedCtx);
  dir = skillsDir(FIXTURE_SKILLS, EXAMPLE_SKILLS);
  w = await startTestWorker(
    nats.url,
    prefix,
    { node_id: NODE, skills_dir: dir, max_concurrent_tasks: 4 },
    { tasks: { max_result_bytes: 10_000 } },
  );
});

afterAll(async () => {
  await w?.worker.stop();
  await w?.ctx.close();
  await schedCtx?.close();
  await nats?.stop();
});

/** Dispatches one attempt of a new task to the main worker; returns the task id. */
async function run(skill: string, payload: unknown, overrides: Parameters<typeof taskSpec>[3] = {}) {
  const id = taskId(skill);
  await sched.dispatch(NODE, taskSpec(id, skill, payload, overrides));
  return id;
}

function logged(message: string, id: string) {
  return waitFor(() => w.lines.find((l) => l.message === message && l.task_id === id), {
    message: `no log line '${message}' for ${id}`,
  });
}

describe("running skills", () => {
  it("runs a module skill and reports started, then succeeded with the result", async () => {
    const payload = { hello: "world", n: [1, 2, 3] };
    const id = await run("echo", payload);
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "succeeded", result: payload, node_id: NODE, attempt: 1 });
    const kinds = sched.of(id).map((r) => r.kind);
    expect(kinds).toEqual(["started", "succeeded"]);
    expect(done.kind === "succeeded" && done.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("loads TypeScript skills through tsx", async () => {
    const id = await run("typed", { a: 2, b: 3 });
    expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: { sum: 5, attempt: 1 } });
  });

  it("runs a command skill: task JSON on stdin, env, cwd, ::progress and ::checkpoint on stderr", async () => {
    const id = await run("cmd-ok", { x: 1 });
    const done = await sched.outcome(id);
    expect(done).toMatchObject({
      kind: "succeeded",
      result: {
        stdin: { task_id: id, attempt: 1, payload: { x: 1 }, checkpoint: null },
        env: { task_id: id, attempt: "1" },
      },
    });
    expect(done.kind === "succeeded" && (done.result as { cwd: string }).cwd).toMatch(/cmd-ok$/);
    const progress = await waitFor(() => sched.events.find((e) => e.task_id === id && e.kind === "progress"));
    expect(progress).toMatchObject({ percent: 50, message: "halfway there", attempt: 1, node_id: NODE });
    await waitFor(() => sched.events.find((e) => e.task_id === id && e.kind === "checkpointed"));
    const entry = await schedCtx.cluster.kv.checkpoints.get(id);
    const cp = decode(Checkpoint, entry?.value ?? new Uint8Array());
    expect(cp.ok && cp.value).toMatchObject({ task_id: id, attempt: 1, node_id: NODE, data: { step: 1 } });
    expect(w.lines.some((l) => l.task_id === id && l.stderr === "an ordinary log line")).toBe(true);
  });

  // Hardening item 9: a command skill saw NATS_URL with its credentials and every variable of the
  // worker's environment (OPENCLAW_API_KEYS from a shared systemd environment file included).
  it("gives a command skill only worker.skill_env's variables (default), not the worker's secrets", async () => {
    const secrets = {
      OPENCLAW_API_KEYS: "k-0123456789abcdef0123456789",
      NATS_URL: "nats://alice:s3cret@127.0.0.1:4222",
      NATS_PASSWORD: "s3cret",
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      const id = await run("env-dump", null);
      const done = await sched.outcome(id);
      expect(done.kind).toBe("succeeded");
      const env = (done.kind === "succeeded" ? done.result : {}) as Record<string, string>;
      expect(env).toMatchObject({ OPENCLAW_TASK_ID: id, OPENCLAW_ATTEMPT: "1", PATH: process.env.PATH });
      const allowed =
        /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LC_.*|TZ|TMPDIR|OPENCLAW_TASK_ID|OPENCLAW_ATTEMPT)$/;
      const extra = Object.keys(env).filter((k) => !allowed.test(k));
      expect(extra).toEqual([]);
      expect(JSON.stringify(env)).not.toContain("s3cret");
      expect(JSON.stringify(env)).not.toContain("k-0123456789");
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("throttles progress to a few events a second, always sending 100", async () => {
    const id = await run("chatty", null);
    await sched.outcome(id);
    const progressOf = () => sched.events.filter((e) => e.task_id === id && e.kind === "progress");
    await waitFor(() => progressOf().some((e) => e.kind === "progress" && e.percent === 100));
    const events = progressOf();
    expect(events.length).toBeLessThanOrEqual(3);
    expect(events[0]).toMatchObject({ percent: 1, message: "at 1" });
  });

  it("reloads a module skill when its file changes", async () => {
    mkdirSync(join(dir, "reload"));
    writeFileSync(join(dir, "reload", "SKILL.md"), "---\nname: reload\ndescription: Changes\n---\n");
    const file = join(dir, "reload", "index.mjs");
    writeFileSync(file, "export const run = () => ({ v: 1 });\n");
    await waitFor(() => w.worker.descriptor().skills.some((s) => s.name === "reload"));
    const first = await run("reload", null);
    expect(await sched.outcome(first)).toMatchObject({ kind: "succeeded", result: { v: 1 } });
    writeFileSync(file, "export const run = () => ({ v: 2 });\n");
    const later = new Date(Date.now() + 10_000);
    utimesSync(file, later, later);
    // Used by the attempts that start once the file's last stat (kept up to a second) is stale.
    await waitFor(
      async () => {
        const o = await sched.outcome(await run("reload", null));
        return o.kind === "succeeded" && (o.result as { v: number }).v === 2;
      },
      { timeout: 10_000 },
    );
  });
});

describe("reporting a start", () => {
  it("reports no start for an attempt shorter than worker.started_report_delay: its outcome says it; a longer one's start is reported", async () => {
    const w6 = await startTestWorker(nats.url, prefix, {
      node_id: "w6",
      skills_dir: EXAMPLE_SKILLS,
      max_concurrent_tasks: 2,
      started_report_delay: "2s",
    });
    try {
      const short = taskId("short");
      await sched.dispatch("w6", taskSpec(short, "echo", { hi: 1 }));
      expect(await sched.outcome(short)).toMatchObject({ kind: "succeeded", result: { hi: 1 } });
      expect(sched.of(short).map((r) => r.kind)).toEqual(["succeeded"]);
      const long = taskId("long");
      await sched.dispatch("w6", taskSpec(long, "sleep", { ms: 4000, steps: 2 }));
      await waitFor(() => sched.of(long).some((r) => r.kind === "started"), { timeout: 10_000 });
      expect(sched.of(long).map((r) => r.kind)).toEqual(["started"]);
      expect(await sched.outcome(long)).toMatchObject({ kind: "succeeded" });
      expect(sched.of(long).map((r) => r.kind)).toEqual(["started", "succeeded"]);
    } finally {
      await w6.worker.stop();
      await w6.ctx.close();
    }
  });
});

describe("failures", () => {
  it("reports a thrown error as OC-6001 with its message, retryable by default", async () => {
    const id = await run("throws", { message: "disk on fire" });
    expect(await sched.outcome(id)).toMatchObject({
      kind: "failed",
      error: { code: "OC-6001", message: "disk on fire", retryable: true },
    });
  });

  it("honours retryable: false and nonRetryable: true on the thrown error", async () => {
    const a = await run("throws", { message: "bad input", retryable: false });
    const b = await run("throws", { message: "bad input too", nonRetryable: true });
    expect(await sched.outcome(a)).toMatchObject({ error: { code: "OC-6001", retryable: false } });
    expect(await sched.outcome(b)).toMatchObject({ error: { code: "OC-6001", retryable: false } });
  });

  it("reports a command that prints something other than JSON as OC-6003", async () => {
    const id = await run("garbage", {});
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6003" } });
    expect(done.kind === "failed" && done.error.message).toContain("this is not json");
  });

  it("reports a non-zero exit as OC-6002 with the exit code and the end of stderr", async () => {
    const id = await run("exit2", {});
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6002", retryable: true } });
    const message = done.kind === "failed" ? done.error.message : "";
    expect(message).toContain("code 2");
    expect(message).toContain("fatal: the input was wrong");
  });

  it("reports a skill the node lacks (OC-6006), one it cannot run (OC-6008), a result too large (OC-6007)", async () => {
    const missing = await run("no-such-skill", {});
    const none = await run("not-runnable", {});
    const big = await run("big", { size: 20_000 });
    const absent = await run("bad-command", {});
    expect(await sched.outcome(missing)).toMatchObject({ error: { code: "OC-6006", retryable: true } });
    expect(await sched.outcome(none)).toMatchObject({ error: { code: "OC-6008", retryable: false } });
    expect(await sched.outcome(big)).toMatchObject({ error: { code: "OC-6007", retryable: false } });
    const spawnFailed = await sched.outcome(absent);
    expect(spawnFailed).toMatchObject({ error: { code: "OC-6008", retryable: true } });
    expect(spawnFailed.kind === "failed" && spawnFailed.error.message).toContain("no-such-program-oc-test");
  });

  it("times out a skill that never settles and ignores its signal, at the deadline (OC-6004)", async () => {
    const id = await run("hang", null, { timeout_ms: 300 });
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6004", retryable: true } });
    expect(done.duration_ms).toBeGreaterThanOrEqual(290);
    expect(done.duration_ms).toBeLessThan(10_000); // at the deadline, not never
  });

  it("times out a command that ignores SIGTERM, and kills it", async () => {
    const pidfile = join(mkdtempSync(join(tmpdir(), "oc-pid-")), "pid");
    const id = await run("stubborn", { pidfile }, { timeout_ms: 500 });
    const done = await sched.outcome(id, 1, 20_000);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6004", retryable: true } });
    const pid = Number(readFileSync(pidfile, "utf8"));
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it("aborts an attempt on a TaskAbort for it (OC-6005, not retryable), ignoring one for another attempt", async () => {
    const id = await run("hang", null);
    await sched.report(id, "started");
    await sched.cancel(NODE, id, 2, "wrong attempt");
    await sched.cancel(NODE, id, 1, "user asked");
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6005", retryable: false } });
    expect(done.kind === "failed" && done.error.message).toContain("user asked");
  });
});

describe("fencing", () => {
  it("skips a dispatch the task record does not confirm, reporting nothing", async () => {
    const cases = [
      { attempt: 2 },
      { assigned_node: "someone-else" },
      { status: "running" as const },
      { cancel_requested: true },
    ];
    const ids: string[] = [];
    for (const record of cases) {
      const id = taskId("stale");
      ids.push(id);
      await sched.dispatch(NODE, taskSpec(id, "echo", {}), { attempt: 1, record });
    }
    // And one with no record at all.
    const orphan = taskId("orphan");
    const d: TaskDispatch = { ...envelope(schedCtx.sender), task: taskSpec(orphan, "echo", {}), attempt: 1 };
    await schedCtx.cluster.js.publish(schedCtx.cluster.names.subjects.dispatch(NODE), encode(d));
    ids.push(orphan);
    for (const id of ids) await logged("stale dispatch skipped", id);
    for (const id of ids) expect(sched.of(id)).toEqual([]);
  });

  it("drops an invalid dispatch and keeps working", async () => {
    await schedCtx.cluster.js.publish(schedCtx.cluster.names.subjects.dispatch(NODE), encode({ nope: true }));
    await waitFor(() => w.lines.find((l) => l.message === "invalid dispatch dropped"));
    const id = await run("echo", 1);
    expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: 1 });
  });

  it("never lets an older attempt overwrite a later attempt's checkpoint", async () => {
    const id = taskId("cp");
    const newer: Checkpoint = {
      task_id: id,
      attempt: 5,
      node_id: "w9",
      data: "newer",
      at: new Date().toISOString(),
    };
    await schedCtx.cluster.kv.checkpoints.put(id, encode(newer));
    await sched.dispatch(NODE, taskSpec(id, "last-checkpoint", "older"), { attempt: 2 });
    expect(await sched.outcome(id, 2)).toMatchObject({ kind: "succeeded", result: { seen: "newer" } });
    const entry = await schedCtx.cluster.kv.checkpoints.get(id);
    const cp = decode(Checkpoint, entry?.value ?? new Uint8Array());
    expect(cp.ok && cp.value).toMatchObject({ attempt: 5, data: "newer" });
  });
});

describe("a module skill cannot stop the worker (it runs in a pooled thread)", () => {
  async function stillWorks() {
    const id = await run("echo", { after: true });
    expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: { after: true } });
  }

  it("a throw in the skill's own timer fails the attempt (OC-6001) and the worker runs the next task", async () => {
    const id = await run("timer-throws", null);
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6001", retryable: true } });
    expect(done.kind === "failed" && done.error.message).toBe(
      "an uncaught exception in the skill's thread: thrown from a skill's timer",
    );
    await stillWorks();
  });

  it("process.exit(3) in a skill fails the attempt (OC-6001) and the worker goes on", async () => {
    const id = await run("exits", null);
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6001" } });
    expect(done.kind === "failed" && done.error.message).toContain("exited (code 3)");
    await stillWorks();
  });

  it("a busy loop is ended at its timeout (OC-6004) and the worker goes on", async () => {
    const id = await run("busy", null, { timeout_ms: 500 });
    const done = await sched.outcome(id, 1, 10_000);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6004", retryable: true } });
    expect(done.duration_ms).toBeGreaterThanOrEqual(490);
    expect(done.duration_ms).toBeLessThan(10_000); // at the deadline, not never
    await stillWorks();
    // Heartbeats kept flowing meanwhile.
    const seen = sched.heartbeats.length;
    await waitFor(() => sched.heartbeats.slice(seen).find((h) => h.node_id === NODE));
  });

  it("reuses a skill's thread across attempts: module state lives on", async () => {
    mkdirSync(join(dir, "counter"));
    writeFileSync(join(dir, "counter", "SKILL.md"), "---\nname: counter\ndescription: Counts\n---\n");
    writeFileSync(join(dir, "counter", "index.mjs"), "let n = 0;\nexport const run = () => ({ n: ++n });\n");
    await waitFor(() => w.worker.descriptor().skills.some((s) => s.name === "counter"));
    for (const n of [1, 2, 3]) {
      const id = await run("counter", null);
      expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: { n } });
    }
  });

  it("a busy loop is ended on cancel (OC-6005)", async () => {
    const id = await run("busy", null);
    await sched.report(id, "started");
    await waitFor(() => w.worker.running().includes(id));
    await sched.cancel(NODE, id, 1, "enough");
    const done = await sched.outcome(id, 1, 10_000);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6005", retryable: false } });
    await stillWorks();
  });
});

describe("checkpoints and load", () => {
  it("checkpoints, and a later attempt resumes from the last checkpoint", async () => {
    const id = taskId("resume");
    const spec = taskSpec(id, "sleep", { ms: 3000, steps: 30 });
    await sched.dispatch(NODE, spec);
    await waitFor(async () => {
      const e = await schedCtx.cluster.kv.checkpoints.get(id);
      const cp = e ? decode(Checkpoint, e.value) : undefined;
      return cp?.ok && (cp.value.data as { done: number }).done >= 2;
    });
    await sched.cancel(NODE, id, 1);
    expect(await sched.outcome(id)).toMatchObject({ error: { code: "OC-6005" } });
    const entry = await schedCtx.cluster.kv.checkpoints.get(id);
    const cp = decode(Checkpoint, entry?.value ?? new Uint8Array());
    const saved = cp.ok ? (cp.value.data as { done: number }).done : -1;
    expect(saved).toBeGreaterThanOrEqual(2);

    await sched.dispatch(NODE, spec, { attempt: 2 });
    const done = await sched.outcome(id, 2);
    expect(done).toMatchObject({ kind: "succeeded", attempt: 2, result: { resumed_from: saved, steps: 30 } });
    const last = sched.events.filter((e) => e.task_id === id && e.kind === "progress").at(-1);
    expect(last).toMatchObject({ attempt: 2, percent: 100 });
  });

  it("reports its running tasks in heartbeats", async () => {
    const id = await run("hang", null, { timeout_ms: 1500 });
    await waitFor(() =>
      sched.heartbeats.find((h) => h.node_id === NODE && h.load.running_task_ids.includes(id)),
    );
    expect(w.worker.running()).toContain(id);
    await sched.outcome(id);
    const after = sched.heartbeats.length;
    await waitFor(() =>
      sched.heartbeats.slice(after).find((h) => h.node_id === NODE && !h.load.running_task_ids.includes(id)),
    );
  });

  it("never runs more than max_concurrent_tasks at once", async () => {
    const w2 = await startTestWorker(nats.url, prefix, {
      node_id: "w2",
      skills_dir: EXAMPLE_SKILLS,
      max_concurrent_tasks: 2,
    });
    try {
      const ids = Array.from({ length: 10 }, () => taskId("cap"));
      for (const id of ids) await sched.dispatch("w2", taskSpec(id, "sleep", { ms: 150, steps: 3 }));
      for (const id of ids) expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded" });
      let running = 0;
      let most = 0;
      for (const r of sched.reports.filter((r) => r.node_id === "w2")) {
        running += r.kind === "started" ? 1 : -1;
        most = Math.max(most, running);
      }
      expect(most).toBe(2);
      const loads = sched.heartbeats.filter((h) => h.node_id === "w2").map((h) => h.load.running_tasks);
      expect(Math.max(...loads)).toBeLessThanOrEqual(2);
    } finally {
      await w2.worker.stop();
      await w2.ctx.close();
    }
  });

  it("drains when it stops: announces the drain, then after drain_timeout aborts what still runs and reports it lost (OC-6009), so the scheduler moves it without counting it", async () => {
    const w3 = await startTestWorker(nats.url, prefix, {
      node_id: "w3",
      skills_dir: FIXTURE_SKILLS,
      drain_timeout: "1s",
    });
    const drains: NodeDrain[] = [];
    const sub = schedCtx.cluster.nc.subscribe(schedCtx.cluster.names.subjects.nodeMessage("w3", "drain"), {
      callback: (_err, m) => {
        const d = decode(NodeDrain, m.data);
        if (d.ok) drains.push(d.value);
      },
    });
    await schedCtx.cluster.nc.flush();
    const id = taskId("stop");
    await sched.dispatch("w3", taskSpec(id, "hang", null));
    await sched.report(id, "started");
    const began = performance.now();
    await w3.worker.stop();
    await w3.ctx.close();
    // The grace period was given (the skill never ends by itself), then it was handed back.
    expect(performance.now() - began).toBeGreaterThanOrEqual(900);
    expect(await sched.outcome(id)).toMatchObject({
      kind: "failed",
      node_id: "w3",
      error: { code: "OC-6009", message: "worker stopping", retryable: true },
    });
    expect(drains).toEqual([
      expect.objectContaining({ node_id: "w3", draining: true, session: w3.worker.session }),
    ]);
    sub.unsubscribe();
  });

  it("drains when it stops: a running task finishes within drain_timeout, and a dispatch that arrives meanwhile goes straight back (OC-6009)", async () => {
    const w5 = await startTestWorker(nats.url, prefix, {
      node_id: "w5",
      skills_dir: dir,
      drain_timeout: "30s",
    });
    try {
      const slow = taskId("drain");
      await sched.dispatch("w5", taskSpec(slow, "sleep", { ms: 1500, steps: 3 }));
      await sched.report(slow, "started");
      const stopping = w5.worker.stop();
      const late = taskId("late");
      await sched.dispatch("w5", taskSpec(late, "echo", { v: 1 }));
      expect(await sched.outcome(late)).toMatchObject({
        kind: "failed",
        error: { code: "OC-6009", message: "worker draining", retryable: true },
      });
      await stopping;
      expect(await sched.outcome(slow)).toMatchObject({ kind: "succeeded", result: { steps: 3 } });
    } finally {
      await w5.ctx.close();
    }
  });

  it("on an emergency stop, reports every running attempt lost at once, without waiting for the skills", async () => {
    const w4 = await startTestWorker(nats.url, prefix, { node_id: "w4", skills_dir: FIXTURE_SKILLS });
    try {
      const ids = [taskId("crash"), taskId("crash")];
      for (const id of ids) await sched.dispatch("w4", taskSpec(id, "hang", null));
      for (const id of ids) await sched.report(id, "started");
      const began = performance.now();
      expect(await w4.worker.emergencyStop("uncaught exception: boom", 1000)).toBe(2);
      expect(performance.now() - began).toBeLessThan(5000); // without waiting for the skills, which never end
      for (const id of ids) {
        const done = await sched.outcome(id, 1, 2000);
        expect(done).toMatchObject({
          kind: "failed",
          node_id: "w4",
          error: { code: "OC-6009", retryable: true },
        });
        expect(done.kind === "failed" && done.error.message).toContain("uncaught exception: boom");
        expect(sched.of(id).filter((r) => r.kind !== "started")).toHaveLength(1);
      }
    } finally {
      await w4.ctx.close();
    }
  });
});

describe("checkpoint writes end with their attempt", () => {
  async function revision(id: string): Promise<number> {
    return (await schedCtx.cluster.kv.checkpoints.get(id))?.revision ?? 0;
  }

  it("an attempt that timed out with thousands of checkpoints queued reports at once and writes no more", async () => {
    const id = await run("flood", { count: 60_000 }, { timeout_ms: 300 });
    const done = await sched.outcome(id, 1, 60_000);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6004" } });
    // Not a timing goal: draining 60,000 writes takes over 10 s; the report must not wait for them.
    expect(done.duration_ms).toBeLessThan(8000);
    const after = await revision(id);
    await new Promise((r) => setTimeout(r, 500));
    expect(await revision(id)).toBe(after);
  });

  it("a skill that returned with checkpoints still queued is reported after a short deadline", async () => {
    const id = await run("flood", { count: 200_000, settle: true });
    const done = await sched.outcome(id, 1, 60_000);
    expect(done).toMatchObject({ kind: "succeeded", result: { fired: 200_000 } });
    // Not a timing goal: writing all 200,000 takes about 40 s; the attempt must not wait for them.
    expect(done.duration_ms).toBeLessThan(20_000);
    const after = await revision(id);
    await new Promise((r) => setTimeout(r, 500));
    expect(await revision(id)).toBe(after);
    await logged("checkpoint writes still queued at the end of the attempt; the rest are dropped", id);
  });
});

describe("a stalled dispatch consumer", () => {
  it("is renewed when fetches bring nothing while dispatches wait, and the waiting ones then run", async () => {
    const node = "w-stall";
    const { jsm, js, names } = schedCtx.cluster;
    const stream = names.streams.dispatch;
    const durable = names.consumers.node(node);
    // A consumer that cannot deliver: one message may be out unacknowledged, and someone else holds it.
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: "explicit" as never,
      deliver_policy: "all" as never,
      filter_subject: names.subjects.dispatch(node),
      max_ack_pending: 1,
      ack_wait: 120_000_000_000,
    });
    const held = taskId("echo");
    await sched.dispatch(node, taskSpec(held, "echo", "held"));
    const taken = await (await js.consumers.get(stream, durable)).next({ expires: 5000 });
    expect(taken).toBeTruthy();
    const waiting = taskId("echo");
    await sched.dispatch(node, taskSpec(waiting, "echo", "waiting"));
    const stalled = await startTestWorker(nats.url, prefix, {
      node_id: node,
      skills_dir: dir,
      max_concurrent_tasks: 2,
    });
    try {
      await waitFor(
        () =>
          stalled.lines.find(
            (l) => l.message === "dispatches wait but fetches bring none; renewing this node's consumer",
          ),
        { timeout: 30_000, message: "the stalled consumer was never renewed" },
      );
      expect(await sched.outcome(waiting)).toMatchObject({ kind: "succeeded", result: "waiting" });
      // The held dispatch was never acknowledged: the renewed consumer delivers it too.
      expect(await sched.outcome(held)).toMatchObject({ kind: "succeeded", result: "held" });
    } finally {
      await stalled.worker.stop();
      await stalled.ctx.close();
    }
  }, 60_000);
});

describe("after all of it", () => {
  it("is still alive and working", async () => {
    const id = await run("echo", "still here");
    expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: "still here" });
    const seen = sched.heartbeats.length;
    await waitFor(() => sched.heartbeats.slice(seen).find((h) => h.node_id === NODE));
  });
});
