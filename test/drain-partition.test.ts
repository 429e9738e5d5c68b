import { waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ApiNode,
  EXAMPLE_SKILLS,
  getJson,
  startTestCluster,
  type TestCluster,
  waitForNodes,
} from "./cluster.js";

/** Drain (HTTP and CLI), a worker's graceful SIGTERM hand-back, and fencing after a partition. */
let c: TestCluster;
let api: string;

interface ApiTask {
  task_id: string;
  status: string;
  assigned_node: string | null;
  progress: { percent: number } | null;
  result: { resumed_from?: number; steps?: number } | null;
  attempts: { attempt: number; node_id: string; status: string; error: { message: string } | null }[];
}

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
  c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms", OPENCLAW_INITIAL_BACKOFF: "100ms" });
  api = (await c.coordinator()).url;
});

afterAll(async () => {
  await c?.stop();
});

async function post(path: string, body: unknown = {}) {
  const res = await fetch(`${api}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const task = async (id: string) => (await getJson<ApiTask>(`${api}/api/v1/tasks/${id}`)).body;
const node = async (id: string) => (await getJson<ApiNode>(`${api}/api/v1/nodes/${id}`)).body;

async function submitSleep(ms: number, steps: number, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await post("/api/v1/tasks", { type: "sleep", payload: { ms, steps }, ...extra });
  expect(res.status).toBe(202);
  return String(res.body.task_id);
}

function finished(id: string, timeout = 30_000): Promise<ApiTask> {
  return waitFor(
    async () => {
      const t = await task(id);
      return ["completed", "failed", "cancelled", "timeout"].includes(t.status) ? t : undefined;
    },
    { timeout, message: `task ${id} never finished` },
  );
}

describe("drain", () => {
  it("POST /drain keeps new work off a node while its running task finishes; oclaw undrain brings it back", async () => {
    await c.worker("d1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "2"]);
    await c.worker("d2", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "2"]);
    const running = await submitSleep(2000, 10, { constraints: { node: "d1" } });
    await waitFor(async () => (await task(running)).status === "running", { timeout: 15_000 });

    const drained = await post("/api/v1/nodes/d1/drain", { reason: "kernel upgrade" });
    expect(drained).toMatchObject({
      status: 202,
      body: { node_id: "d1", draining: true, reason: "kernel upgrade" },
    });
    const d1 = await waitFor(async () => {
      const n = await node("d1");
      return n.status === "maintenance" ? n : undefined;
    });
    expect(d1).toMatchObject({ draining: true, drain: { reason: "kernel upgrade", by: "operator" } });

    // New work goes to d2 only; a task only d1 may run waits and says why.
    const others = await Promise.all([1, 2, 3].map(() => submitSleep(100, 1)));
    for (const id of others) expect((await finished(id)).assigned_node).toBe("d2");
    const pinned = await submitSleep(100, 1, { constraints: { node: "d1" } });
    await waitFor(async () =>
      ((await task(pinned)) as ApiTask & { waiting_reason?: string }).waiting_reason?.includes("draining"),
    );
    // The task that was running when the drain came finishes where it was.
    const done = await finished(running);
    expect(done).toMatchObject({ status: "completed", assigned_node: "d1" });
    expect(done.attempts).toHaveLength(1);

    const undrain = c.spawn("undrain", ["d1", "--json"]);
    expect(await undrain.exitWithin(20_000)).toBe(0);
    expect(undrain.logs.find((l) => l.node_id === "d1")).toMatchObject({ draining: false });
    expect((await finished(pinned)).assigned_node).toBe("d1");
    await waitFor(async () => (await node("d1")).status === "online");
  }, 90_000);

  it("oclaw drain --wait returns once the node runs nothing; unknown nodes and bad ids exit non-zero", async () => {
    await waitForNodes(api, (ns) => ns.some((n) => n.node_id === "d2" && n.status === "online"));
    const id = await submitSleep(1500, 5, { constraints: { node: "d2" } });
    await waitFor(async () => (await task(id)).status === "running", { timeout: 15_000 });
    const drain = c.spawn("drain", ["d2", "--wait", "--json", "--reason", "disk swap"]);
    expect(await drain.exitWithin(30_000)).toBe(0);
    expect((await task(id)).status).toBe("completed");
    expect(drain.logs.find((l) => l.node_id === "d2")).toMatchObject({ draining: true, running_tasks: 0 });
    const unknown = c.spawn("drain", ["nope"]);
    expect(await unknown.exitWithin(20_000)).toBe(1);
    expect(unknown.stderr()).toContain("node 'nope' is not known");
    const bad = c.spawn("drain", ["a.b"]);
    expect(await bad.exitWithin(20_000)).toBe(2);
    expect((await post("/api/v1/nodes/d2/undrain")).status).toBe(202);
  }, 60_000);
});

describe("graceful SIGTERM", () => {
  it("a worker given SIGTERM takes no new work, lets short tasks finish within its grace, and hands the rest back with their checkpoints", async () => {
    const leaving = await c.worker("g-leaving", EXAMPLE_SKILLS, [
      "--max-concurrent-tasks",
      "2",
      "--drain-timeout",
      "4s",
    ]);
    await c.worker("g-staying", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "2"]);
    const short = await submitSleep(3000, 6, { constraints: { node: "g-leaving" } });
    // Only a preference for the long one: submitted once the scheduler has placed something on the
    // new node (before that, it may not know the node yet, and would place the task elsewhere).
    await waitFor(async () => (await task(short)).status !== "pending", { timeout: 20_000 });
    const long = await submitSleep(20_000, 40, {
      constraints: { prefer_node: "g-leaving" },
      retry: { max_attempts: 1 },
    });
    let seen = "";
    await waitFor(
      async () => {
        const [s, l] = await Promise.all([task(short), task(long)]);
        seen = `short ${s.status} on ${s.assigned_node}, long ${l.status} on ${l.assigned_node} at ${l.progress?.percent ?? 0}%`;
        return s.status === "running" && l.assigned_node === "g-leaving" && (l.progress?.percent ?? 0) >= 5;
      },
      { timeout: 20_000, message: "both tasks running on g-leaving" },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${seen}`);
    });
    leaving.kill("SIGTERM");
    const s = await finished(short);
    expect(s).toMatchObject({ status: "completed", assigned_node: "g-leaving" });
    expect(s.attempts).toHaveLength(1);
    const l = await finished(long, 60_000);
    expect(l.status).toBe("completed");
    expect(l.attempts.map((a) => a.status)).toEqual(["lost", "completed"]);
    expect(l.attempts[0]?.node_id).toBe("g-leaving");
    expect(l.attempts[1]?.node_id).not.toBe("g-leaving");
    expect(l.result?.resumed_from).toBeGreaterThan(0);
    expect(await leaving.exitWithin(20_000)).toBe(0);
    expect(leaving.logs.some((x) => x.message === "drain time is up; handing the rest back")).toBe(true);
  }, 90_000);
});

describe("rolling restart", () => {
  it("restarting every worker in turn (SIGTERM, start again) under load loses nothing and completes each task once", async () => {
    const ids = ["rr1", "rr2", "rr3"];
    const args = ["--max-concurrent-tasks", "3", "--labels", "rr=yes", "--drain-timeout", "1s"];
    const procs = new Map<string, Awaited<ReturnType<TestCluster["worker"]>>>();
    for (const id of ids) procs.set(id, await c.worker(id, EXAMPLE_SKILLS, args));
    const tasks: string[] = [];
    const submitWave = async (n: number) =>
      tasks.push(
        ...(await Promise.all(
          Array.from({ length: n }, () => submitSleep(3000, 6, { constraints: { labels: { rr: "yes" } } })),
        )),
      );
    for (const id of ids) {
      // Each goes down in the middle of work (tasks of 3 s, 1 s to drain: some are handed back). A
      // fresh wave per restart keeps every slot busy however slow the machine is, so the wait below
      // can't outlast the queue.
      await submitWave(12);
      await waitFor(async () => (await node(id)).running_tasks === 3, {
        timeout: 30_000,
        message: `${id} running 3 tasks`,
      });
      const p = procs.get(id);
      p?.kill("SIGTERM");
      expect(await p?.exitWithin(20_000)).toBe(0);
      procs.set(id, await c.worker(id, EXAMPLE_SKILLS, args));
    }
    const done = await Promise.all(tasks.map((id) => finished(id, 60_000)));
    expect(done.map((t) => t.status)).toEqual(tasks.map(() => "completed"));
    for (const t of done) expect(t.attempts.filter((a) => a.status === "completed")).toHaveLength(1);
    // Some were handed back by a worker going down, and resumed from their checkpoints.
    expect(done.some((t) => t.attempts.some((a) => a.status === "lost"))).toBe(true);
  }, 120_000);
});

describe("partition", () => {
  it("a worker paused (SIGSTOP) until declared dead loses its task to another node; resumed (SIGCONT), it is told to abort and its late result is ignored", async () => {
    const paused = await c.worker("p-paused", EXAMPLE_SKILLS, [
      "--max-concurrent-tasks",
      "1",
      "--labels",
      "part=yes",
    ]);
    const id = await submitSleep(5000, 25, {
      constraints: { prefer_node: "p-paused", labels: { part: "yes" } },
      retry: { max_attempts: 1 },
    });
    await waitFor(
      async () => {
        const t = await task(id);
        return t.assigned_node === "p-paused" && (t.progress?.percent ?? 0) >= 20;
      },
      { timeout: 20_000 },
    );
    await c.worker("p-other", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "1", "--labels", "part=yes"]);
    paused.kill("SIGSTOP");
    try {
      await waitFor(async () => (await node("p-paused")).status === "offline", { timeout: 15_000 });
      // It moves, and the new attempt resumes from the checkpoint the paused one wrote.
      await waitFor(async () => (await task(id)).assigned_node === "p-other", { timeout: 15_000 });
    } finally {
      paused.kill("SIGCONT");
    }
    const done = await finished(id, 40_000);
    expect(done.status).toBe("completed");
    expect(done.attempts.map((a) => [a.node_id, a.status])).toEqual([
      ["p-paused", "lost"],
      ["p-other", "completed"],
    ]);
    expect(done.result?.resumed_from).toBeGreaterThan(0);
    // Back, it still runs its attempt: the scheduler tells it to abort, and what it reports is fenced.
    const scheduler = c.processes.find((p) => p.logs.some((l) => l.message === "scheduler started"));
    await scheduler?.waitForLog(
      (l) =>
        l.message === "node still runs an attempt that is not its own; telling it to abort" &&
        l.task_id === id,
      20_000,
    );
    await scheduler?.waitForLog(
      (l) => l.message === "stale report ignored" && l.task_id === id && l.node_id === "p-paused",
      20_000,
    );
    expect((await task(id)).attempts).toHaveLength(2);
  }, 90_000);
});
