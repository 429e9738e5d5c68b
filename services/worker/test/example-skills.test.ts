import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceContext } from "@openclaw/bus";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXAMPLE_SKILLS,
  SchedulerDouble,
  schedulerContext,
  startTestWorker,
  taskId,
  taskSpec,
} from "./harness.js";

const NODE = "examples";
let nats: NatsServer;
let schedCtx: ServiceContext;
let sched: SchedulerDouble;
let w: Awaited<ReturnType<typeof startTestWorker>>;

beforeAll(async () => {
  nats = await startNatsServer();
  const prefix = uniquePrefix();
  schedCtx = await schedulerContext(nats.url, prefix);
  sched = await SchedulerDouble.start(schedCtx);
  w = await startTestWorker(nats.url, prefix, {
    node_id: NODE,
    skills_dir: EXAMPLE_SKILLS,
    allowed_commands: ["echo"],
  });
});

afterAll(async () => {
  await w?.worker.stop();
  await w?.ctx.close();
  await schedCtx?.close();
  await nats?.stop();
});

async function run(skill: string, payload: unknown, overrides: Parameters<typeof taskSpec>[3] = {}) {
  const id = taskId(skill);
  await sched.dispatch(NODE, taskSpec(id, skill, payload, overrides));
  return sched.outcome(id);
}

describe("example skills", () => {
  it("announces every example skill", () => {
    expect(w.worker.descriptor().skills.map((s) => s.name)).toEqual(
      expect.arrayContaining(["echo", "sleep", "word-count", "merge-counts", "http-check", "shell"]),
    );
  });

  it("echo returns its payload", async () => {
    expect(await run("echo", { a: [1, "two", null] })).toMatchObject({
      kind: "succeeded",
      result: { a: [1, "two", null] },
    });
  });

  it("sleep reports progress up to 100 and returns how it ran", async () => {
    const id = taskId("sleep");
    await sched.dispatch(NODE, taskSpec(id, "sleep", { ms: 100, steps: 4 }));
    expect(await sched.outcome(id)).toMatchObject({
      kind: "succeeded",
      result: { slept_ms: 100, steps: 4, resumed_from: 0 },
    });
    await waitFor(() =>
      sched.events.find((e) => e.task_id === id && e.kind === "progress" && e.percent === 100),
    );
    expect(sched.events.some((e) => e.task_id === id && e.kind === "checkpointed")).toBe(true);
  });

  it("sleep stops at once when cancelled", async () => {
    const id = taskId("sleep");
    await sched.dispatch(NODE, taskSpec(id, "sleep", { ms: 60_000, steps: 2 }));
    await sched.report(id, "started");
    await sched.cancel(NODE, id, 1);
    const done = await sched.outcome(id);
    expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6005" } });
    expect(done.duration_ms).toBeLessThan(10_000);
  });

  it("word-count maps documents and merge-counts reduces them, skipping nulls", async () => {
    const docs = ["The cat saw the dog.", "A dog! A CAT? don't panic", ""];
    const maps = await Promise.all(docs.map((document) => run("word-count", { document })));
    const counts = maps.map((m) => (m.kind === "succeeded" ? m.result : undefined));
    expect(counts[0]).toEqual({ counts: { the: 2, cat: 1, saw: 1, dog: 1 } });
    const merged = await run("merge-counts", { inputs: [...counts, null] });
    expect(merged).toMatchObject({
      kind: "succeeded",
      result: { counts: { the: 2, cat: 2, saw: 1, dog: 2, a: 2, "don't": 1, panic: 1 } },
    });
  });

  it("word-count and merge-counts refuse bad input without retries", async () => {
    expect(await run("word-count", { document: 42 })).toMatchObject({
      error: { code: "OC-6001", retryable: false },
    });
    expect(await run("merge-counts", { inputs: [{ nope: 1 }] })).toMatchObject({
      error: { code: "OC-6001", retryable: false },
    });
  });

  describe("http-check", () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === "/slow") return; // never answers
        res.statusCode = req.url === "/down" ? 503 : 200;
        res.end("hello");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it("reports status, ok and latency", async () => {
      const up = await run("http-check", { url: `${base}/ok` });
      expect(up).toMatchObject({ kind: "succeeded", result: { url: `${base}/ok`, status: 200, ok: true } });
      const latency = up.kind === "succeeded" ? (up.result as { latency_ms: number }).latency_ms : -1;
      expect(latency).toBeGreaterThanOrEqual(0);
      expect(await run("http-check", { url: `${base}/down` })).toMatchObject({
        result: { status: 503, ok: false },
      });
    });

    it("reports a site that does not answer in time, or at all, as a result", async () => {
      expect(await run("http-check", { url: `${base}/slow`, timeout_ms: 300 })).toMatchObject({
        kind: "succeeded",
        result: { status: null, ok: false, error: "no response within 300 ms" },
      });
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const refused = await run("http-check", { url: `http://127.0.0.1:${port}/` });
      expect(refused).toMatchObject({ kind: "succeeded", result: { status: null, ok: false } });
      expect(refused.kind === "succeeded" && (refused.result as { error: string }).error).toContain(
        "ECONNREFUSED",
      );
    });

    it("refuses a URL that is not http(s)", async () => {
      expect(await run("http-check", { url: "file:///etc/passwd" })).toMatchObject({
        error: { code: "OC-6001", retryable: false },
      });
    });
  });

  describe("shell", () => {
    it("runs an allowed command", async () => {
      expect(await run("shell", { command: ["echo", "hello", "world"] })).toMatchObject({
        kind: "succeeded",
        result: { exit_code: 0, stdout: "hello world\n", stderr: "" },
      });
    });

    it("refuses a command that is not in worker.allowed_commands, without retries", async () => {
      const done = await run("shell", { command: ["ls", "/"] });
      expect(done).toMatchObject({ kind: "failed", error: { code: "OC-6001", retryable: false } });
      expect(done.kind === "failed" && done.error.message).toContain("'ls' is not allowed");
    });
  });
});
