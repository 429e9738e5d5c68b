import type { ServiceContext } from "@openclaw/bus";
import {
  type NatsServer,
  type ServiceProcess,
  spawnOclaw,
  startNatsServer,
  uniquePrefix,
} from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXAMPLE_SKILLS,
  FIXTURE_SKILLS,
  SchedulerDouble,
  schedulerContext,
  skillsDir,
  taskId,
  taskSpec,
} from "./harness.js";

/**
 * `oclaw worker` as its own process (module skills run in pooled threads of it), with this test playing the
 * scheduler: it writes the task records and dispatches the attempts itself.
 */

let nats: NatsServer;
let prefix: string;
let schedCtx: ServiceContext;
let sched: SchedulerDouble;
let dir: string;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  prefix = uniquePrefix();
  schedCtx = await schedulerContext(nats.url, prefix);
  sched = await SchedulerDouble.start(schedCtx);
  dir = skillsDir(FIXTURE_SKILLS, EXAMPLE_SKILLS);
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await schedCtx?.close();
  await nats?.stop();
});

async function worker(nodeId: string): Promise<ServiceProcess> {
  const proc = spawnOclaw(["worker", "--node-id", nodeId, "--skills-dir", dir], {
    env: {
      NATS_URL: nats.url,
      OPENCLAW_SUBJECT_PREFIX: prefix,
      OPENCLAW_LOG_LEVEL: "debug",
      OPENCLAW_HEARTBEAT_INTERVAL: "200ms",
    },
  });
  procs.push(proc);
  await proc.waitForLog((l) => l.message === "worker started", 20_000);
  return proc;
}

async function run(nodeId: string, skill: string, payload: unknown): Promise<string> {
  const id = taskId(skill);
  await sched.dispatch(nodeId, taskSpec(id, skill, payload));
  return id;
}

describe("a module skill's stray failures do not reach the worker process (pooled threads)", () => {
  it("a promise left to reject after run returned discards the idle thread (logged, OC-6001): the attempt succeeds, the worker goes on", async () => {
    const proc = await worker("pw1");
    const stray = await run("pw1", "stray", null);
    expect(await sched.outcome(stray)).toMatchObject({ kind: "succeeded", result: { stray: true } });
    const line = await proc.waitForLog((l) => l.error_code === "OC-6001" && typeof l.error === "string");
    expect(line).toMatchObject({
      level: "warn",
      message: "a skill's thread failed between attempts; discarded",
      error: "an unhandled rejection in the skill's thread: stray",
    });
    // Still alive, still working, more than once.
    for (const n of [1, 2]) {
      const id = await run("pw1", "echo", { n });
      expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: { n } });
    }
    expect(proc.child.exitCode).toBeNull();
    expect(proc.logs.some((l) => l.level === "fatal")).toBe(false);
  });

  it("a throw from a skill's timer, or process.exit() in a skill, fails only that attempt (OC-6001): the worker keeps running", async () => {
    const proc = await worker("pw2");
    const hang = await run("pw2", "hang", null);
    await sched.report(hang, "started");
    const later = await run("pw2", "throw-later", null);
    // run returned before its timer fired: the throw discards the idle thread, nothing else.
    expect(await sched.outcome(later)).toMatchObject({ kind: "succeeded", result: { thrown: "later" } });
    const timer = await run("pw2", "timer-throws", null);
    const failed = await sched.outcome(timer);
    expect(failed).toMatchObject({ kind: "failed", node_id: "pw2", error: { code: "OC-6001" } });
    expect(failed.kind === "failed" && failed.error.message).toContain("thrown from a skill's timer");
    const exits = await run("pw2", "exits", null);
    expect(await sched.outcome(exits)).toMatchObject({ kind: "failed", error: { code: "OC-6001" } });
    const echo = await run("pw2", "echo", "alive");
    expect(await sched.outcome(echo)).toMatchObject({ kind: "succeeded", result: "alive" });
    // The attempt running alongside was never disturbed.
    expect(sched.of(hang).map((r) => r.kind)).toEqual(["started"]);
    expect(proc.child.exitCode).toBeNull();
    expect(proc.logs.some((l) => l.level === "fatal")).toBe(false);
  });
});

describe("the skills directory at start", () => {
  // Reproduction: `oclaw worker --skills-dir /does-not-exist` registered with 0 skills after one
  // misleading "skill skipped" warning.
  it("a missing one is a usage error: exit 2 with one line naming it, before connecting", async () => {
    const proc = spawnOclaw(["worker", "--node-id", "pw-missing", "--skills-dir", "/does-not-exist"], {
      env: { NATS_URL: nats.url, OPENCLAW_SUBJECT_PREFIX: prefix },
    });
    procs.push(proc);
    expect(await proc.exited()).toBe(2);
    expect(proc.stderr().trim()).toBe(
      "oclaw worker: [OC-3002] skills directory /does-not-exist does not exist: create it (oclaw skill init <name> --dir /does-not-exist) or point worker.skills_dir (--skills-dir) at your skills",
    );
    expect(proc.logs.some((l) => l.message === "registered")).toBe(false);
  });
});
