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
 * `oclaw worker` as its own process (module skills run in it), with this test playing the
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

describe("a module skill's stray failures in the worker process", () => {
  it("a rejected promise nobody handles is logged (OC-6001) and the worker keeps running tasks", async () => {
    const proc = await worker("pw1");
    const stray = await run("pw1", "stray", null);
    expect(await sched.outcome(stray)).toMatchObject({ kind: "succeeded", result: { stray: true } });
    const line = await proc.waitForLog((l) => l.error_code === "OC-6001" && l.error === "stray");
    expect(line).toMatchObject({ level: "error", message: "a skill left a promise rejected; ignored" });
    // Still alive, still working, more than once.
    for (const n of [1, 2]) {
      const id = await run("pw1", "echo", { n });
      expect(await sched.outcome(id)).toMatchObject({ kind: "succeeded", result: { n } });
    }
    expect(proc.child.exitCode).toBeNull();
    expect(proc.logs.some((l) => l.level === "fatal")).toBe(false);
  });

  it("an uncaught exception exits the worker, after it reports its running attempts lost (OC-6009)", async () => {
    const proc = await worker("pw2");
    const hang = await run("pw2", "hang", null);
    await sched.report(hang, "started");
    await run("pw2", "throw-later", null);
    expect(await proc.exitWithin(10_000)).toBe(1);
    const lost = await sched.outcome(hang, 1, 5000);
    expect(lost).toMatchObject({
      kind: "failed",
      node_id: "pw2",
      error: { code: "OC-6009", retryable: true },
    });
    expect(lost.kind === "failed" && lost.error.message).toContain("thrown from a skill's timer");
    expect(proc.logs.some((l) => l.level === "fatal" && l.message === "uncaught exception; exiting")).toBe(
      true,
    );
  });
});
