import { encode, publishLeaderElected, type ServiceContext } from "@openclaw/bus";
import type { TaskEvent } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Coordinator } from "../src/coordinator.js";
import { nodeRecord, tempDir } from "./fixtures.js";
import { captureLogger, getJson, Harness, writer } from "./harness.js";
import { publishTaskEvents, TaskPlay, taskSpec } from "./task-fixtures.js";

interface Frame {
  id: string | undefined;
  event: string;
  data: { seq: number | null; kind: string; task_id: string; [k: string]: unknown };
}

/** Reads a server-sent event stream into `frames` until it ends (or `close()`). */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const frames: Frame[] = [];
  const body = res.body;
  if (!body) throw new Error("no body");
  const done = (async () => {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended" as const;
      buf += value;
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const fields = new Map<string, string>();
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
        }
        const data = fields.get("data");
        if (data !== undefined) {
          frames.push({
            id: fields.get("id"),
            event: fields.get("event") ?? "message",
            data: JSON.parse(data),
          });
        }
      }
    }
  })().catch(() => "aborted" as const);
  return { res, frames, done, close: () => abort.abort() };
}

function kinds(frames: Frame[]): string[] {
  return frames.map((f) => f.event);
}

/** Subscriptions the coordinator's connection holds on one subject. */
function subscriptionsOn(ctx: ServiceContext, subject: string): number {
  const protocol = (
    ctx.cluster.nc as unknown as {
      protocol: { subscriptions: { all(): { getSubject(): string }[] } };
    }
  ).protocol;
  return protocol.subscriptions.all().filter((s) => s.getSubject() === subject).length;
}

describe("tasks on a live cluster", () => {
  let server: NatsServer;
  let h: Harness;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(() => {
    h = new Harness(server.url, uniquePrefix());
    tmp = tempDir();
  });
  afterEach(async () => {
    await h.closeAll();
    tmp.cleanup();
  });

  async function start(dbName = "c.db", log?: ReturnType<typeof captureLogger>["log"]) {
    const ctx = await h.context({ dbPath: tmp.file(dbName), ...(log ? { log } : {}) });
    return { ctx, c: await h.coordinator(ctx) };
  }

  const task = (c: Coordinator, id: string) =>
    getJson<Record<string, unknown>>(`${c.url}/api/v1/tasks/${id}`);

  it("projects the scheduler's events into the task and its history", async () => {
    const { ctx, c } = await start();
    const play = new TaskPlay(taskSpec("p1", { payload: { doc: "a" } }));
    await publishTaskEvents(ctx, play.submitted(), play.waiting("no online node has skill python"));
    const waiting = await waitFor(async () => {
      const { body } = await task(c, "p1");
      return body.waiting_reason ? body : undefined;
    });
    expect(waiting).toMatchObject({ status: "pending", payload: { doc: "a" } });

    await publishTaskEvents(ctx, play.scheduled("w1"), play.started(), play.progress(30, "a third"));
    await waitFor(async () => (await task(c, "p1")).body.progress !== null);
    expect((await task(c, "p1")).body).toMatchObject({
      status: "running",
      assigned_node: "w1",
      waiting_reason: null,
      progress: { percent: 30, message: "a third" },
    });
    await publishTaskEvents(ctx, play.completed({ summary: "ok" }));
    const done = await waitFor(async () => {
      const { body } = await task(c, "p1");
      return body.status === "completed" ? body : undefined;
    });
    expect(done).toMatchObject({ result: { summary: "ok" }, payload: { doc: "a" }, attempt: 1 });
    expect(c.store.tasks.eventsAfter("p1", 0).map((e) => e.kind)).toEqual([
      "submitted",
      "waiting",
      "scheduled",
      "started",
      "progress",
      "completed",
    ]);
  });

  it("counts finished attempts on the nodes that ran them; running_tasks stays the heartbeat's", async () => {
    const { ctx, c } = await start();
    const w = writer(ctx);
    await w.putNode(nodeRecord("w1", { running: 1 }));
    await w.putNode(nodeRecord("w2"));
    const a = new TaskPlay(taskSpec("a"));
    const b = new TaskPlay(taskSpec("b"));
    const t = new TaskPlay(taskSpec("t", { timeout: "5s" }));
    await publishTaskEvents(ctx, a.submitted(), a.scheduled("w1"), a.started(), a.completed(1, 2000));
    await publishTaskEvents(ctx, b.submitted(), b.scheduled("w1"), b.started(), b.failed());
    await publishTaskEvents(ctx, b.scheduled("w2"), b.started(), b.completed(2, 3000));
    await publishTaskEvents(ctx, t.submitted(), t.scheduled("w2"), t.started(), t.timedOut());
    const nodes = await waitFor(async () => {
      const { body } = await getJson<Record<string, unknown>[]>(`${c.url}/api/v1/nodes`);
      return body.length === 2 && body.every((n) => n.total_tasks_processed === 2) ? body : undefined;
    });
    const counters = nodes.map((n) => [
      n.node_id,
      n.running_tasks,
      n.total_tasks_processed,
      n.successful_tasks,
      n.failed_tasks,
      n.average_execution_time,
    ]);
    expect(counters).toEqual([
      ["w1", 1, 2, 1, 1, 2],
      ["w2", 0, 2, 1, 1, 3],
    ]);
    // A heartbeat does not reset them.
    await w.putNode(nodeRecord("w1", { running: 0 }));
    await waitFor(
      async () =>
        (await getJson<{ running_tasks: number }>(`${c.url}/api/v1/nodes/w1`)).body.running_tasks === 0,
    );
    expect((await getJson(`${c.url}/api/v1/nodes/w1`)).body).toMatchObject({ total_tasks_processed: 2 });
  });

  it("skips invalid task events with OC-2002 and cluster events silently, moving the cursor past both", async () => {
    const { log, lines } = captureLogger();
    const { ctx, c } = await start("c.db", log);
    const { js, names } = ctx.cluster;
    const good = new TaskPlay(taskSpec("good"));
    const submitted = good.submitted();
    await js.publish(names.subjects.taskEvent("bad", "submitted"), new TextEncoder().encode("{nope"));
    await js.publish(
      names.subjects.taskEvent("bad", "completed"),
      encode({ kind: "completed", task_id: "bad" }),
    );
    // The subject names another task than the event.
    await js.publish(names.subjects.taskEvent("other", "submitted"), encode(submitted));
    await publishLeaderElected(ctx, "scheduler", 1);
    await publishTaskEvents(ctx, submitted);
    await waitFor(() => c.store.eventCursor() === 5);
    expect(c.store.tasks.get("good")?.status).toBe("pending");
    expect(c.store.tasks.get("bad")).toBeUndefined();
    expect(c.store.tasks.get("other")).toBeUndefined();
    const warned = lines.filter((l) => l.level === "warn" && l.error_code === "OC-2002");
    expect(warned.map((l) => l.subject)).toEqual([
      names.subjects.taskEvent("bad", "submitted"),
      names.subjects.taskEvent("bad", "completed"),
      names.subjects.taskEvent("other", "submitted"),
    ]);
  });

  it("streams stored events, then live ones, and ends the stream after completed", async () => {
    const { ctx, c } = await start();
    const posted = await fetch(`${c.url}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ task_id: "s1", type: "python", payload: { n: 1 } }),
    });
    expect(posted.status).toBe(202);
    const play = new TaskPlay(taskSpec("s1"));
    await publishTaskEvents(ctx, play.submitted(), play.scheduled("w1"));
    await waitFor(() => c.store.tasks.eventsAfter("s1", 0).length === 2);

    const stream = await openStream(`${c.url}/api/v1/tasks/s1/events`);
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get("content-type")).toContain("text/event-stream");
    await waitFor(() => stream.frames.length === 2);
    await waitFor(() => subscriptionsOn(ctx, ctx.cluster.names.subjects.taskEventsOf("s1")) === 1);

    const live = [play.started(), play.progress(50, "half"), play.completed({ out: 2 })];
    const seqs = await publishTaskEvents(ctx, ...live);
    expect(await stream.done).toBe("ended");
    expect(kinds(stream.frames)).toEqual(["submitted", "scheduled", "started", "progress", "completed"]);
    expect(stream.frames.slice(0, 2).map((f) => Number(f.id))).toEqual([1, 2]);
    // Live events carry their stream sequence when the read model has stored them already.
    for (const [i, f] of stream.frames.slice(2).entries()) {
      if (f.id !== undefined) expect(Number(f.id)).toBe(seqs[i]);
    }
    expect(stream.frames[0]?.data).toMatchObject({
      seq: 1,
      task_id: "s1",
      kind: "submitted",
      payload: { n: 1 },
    });
    expect(stream.frames[3]?.data).toMatchObject({ kind: "progress", percent: 50, message: "half" });
    expect(stream.frames[4]?.data).toMatchObject({
      kind: "completed",
      result: { out: 2 },
      task: { status: "completed" },
    });
    await waitFor(() => subscriptionsOn(ctx, ctx.cluster.names.subjects.taskEventsOf("s1")) === 0);

    // A finished task's stream replays its history and ends; Last-Event-ID resumes after an event.
    const replay = await openStream(`${c.url}/api/v1/tasks/s1/events`);
    expect(await replay.done).toBe("ended");
    expect(kinds(replay.frames)).toEqual(kinds(stream.frames));
    expect(replay.frames.map((f) => Number(f.id))).toEqual([1, 2, 3, 4, 5]);
    const resumed = await openStream(`${c.url}/api/v1/tasks/s1/events`, { "last-event-id": "3" });
    expect(await resumed.done).toBe("ended");
    expect(kinds(resumed.frames)).toEqual(["progress", "completed"]);
    // Reconnecting with everything already seen: 204, which tells an EventSource to stop.
    const finished = await fetch(`${c.url}/api/v1/tasks/s1/events`, { headers: { "last-event-id": "5" } });
    expect(finished.status).toBe(204);
  });

  it("closes the live subscription when the client goes away", async () => {
    const { ctx, c } = await start();
    const play = new TaskPlay(taskSpec("gone"));
    await publishTaskEvents(ctx, play.submitted());
    await waitFor(() => c.store.tasks.get("gone"));
    const subject = ctx.cluster.names.subjects.taskEventsOf("gone");
    const stream = await openStream(`${c.url}/api/v1/tasks/gone/events`);
    await waitFor(() => stream.frames.length === 1);
    expect(subscriptionsOn(ctx, subject)).toBe(1);
    stream.close();
    await waitFor(() => subscriptionsOn(ctx, subject) === 0);
    // And an open stream does not keep the coordinator from stopping.
    const another = await openStream(`${c.url}/api/v1/tasks/gone/events`);
    await waitFor(() => another.frames.length === 1);
    const started = Date.now();
    await c.stop();
    expect(Date.now() - started).toBeLessThan(10_000); // not a timing goal: it must not hang
    expect(await another.done).toBe("ended");
  });

  it("long poll answers as soon as the task completes, and 202 with the current status at the timeout", async () => {
    const { ctx, c } = await start();
    const play = new TaskPlay(taskSpec("lp"));
    await publishTaskEvents(ctx, play.submitted(), play.scheduled("w1"), play.started());
    await waitFor(async () => (await task(c, "lp")).body.status === "running");

    const timedOut = Date.now();
    const early = await getJson(`${c.url}/api/v1/tasks/lp/result?wait=400ms`);
    expect(Date.now() - timedOut).toBeGreaterThanOrEqual(380);
    expect(early).toEqual({
      status: 202,
      body: { task_id: "lp", status: "running", result: null, error: null },
    });

    const started = Date.now();
    const waiting = getJson(`${c.url}/api/v1/tasks/lp/result?wait=30s`);
    await new Promise((r) => setTimeout(r, 300));
    await publishTaskEvents(ctx, play.completed({ v: 7 }));
    expect(await waiting).toEqual({
      status: 200,
      body: { task_id: "lp", status: "completed", result: { v: 7 }, error: null },
    });
    expect(Date.now() - started).toBeLessThan(15_000);

    const failing = new TaskPlay(taskSpec("lf", { retry: { max_attempts: 1 } }));
    await publishTaskEvents(ctx, failing.submitted(), failing.scheduled("w1"), failing.started());
    await waitFor(() => c.store.tasks.get("lf")?.status === "running");
    const failed = getJson(`${c.url}/api/v1/tasks/lf/result?wait=30s`);
    await new Promise((r) => setTimeout(r, 200));
    await publishTaskEvents(ctx, failing.failed({ code: "OC-6002", message: "exit 1", retryable: false }));
    expect(await failed).toEqual({
      status: 200,
      body: {
        task_id: "lf",
        status: "failed",
        result: null,
        error: { code: "OC-6002", message: "exit 1", retryable: false },
      },
    });
  });

  it("after a restart shows events published while it was down, each once", async () => {
    const db = "restart.db";
    const publisher = await h.context();
    const first = await start(db);
    const a = new TaskPlay(taskSpec("a"));
    await publishTaskEvents(publisher, a.submitted(), a.scheduled("w1"));
    await waitFor(() => first.c.store.tasks.eventsAfter("a", 0).length === 2);
    await first.c.stop();

    const b = new TaskPlay(taskSpec("b"));
    await publishTaskEvents(publisher, a.started(), a.completed("A"), b.submitted());
    const second = await start(db);
    await waitFor(() => second.c.store.eventCursor() === 5);
    expect((await task(second.c, "a")).body).toMatchObject({ status: "completed", result: "A" });
    expect((await task(second.c, "b")).body).toMatchObject({ status: "pending" });
    const history = await openStream(`${second.c.url}/api/v1/tasks/a/events`);
    expect(await history.done).toBe("ended");
    expect(history.frames.map((f) => [Number(f.id), f.event])).toEqual([
      [1, "submitted"],
      [2, "scheduled"],
      [3, "started"],
      [4, "completed"],
    ]);
    const list = await getJson<{ tasks: { task_id: string }[] }>(`${second.c.url}/api/v1/tasks`);
    expect(list.body.tasks.map((t) => t.task_id).sort()).toEqual(["a", "b"]);
  });

  it("keeps up with a burst: 1,000 tasks, 5,000 events", async () => {
    const { ctx, c } = await start();
    const events: TaskEvent[] = [];
    for (let i = 0; i < 1000; i++) {
      const p = new TaskPlay(taskSpec(`burst-${i}`));
      events.push(p.submitted(), p.scheduled(`w${i % 10}`), p.started(), p.progress(50), p.completed(i));
    }
    const started = Date.now();
    const { js, names } = ctx.cluster;
    for (let i = 0; i < events.length; i += 500) {
      await Promise.all(
        events
          .slice(i, i + 500)
          .map((e) => js.publish(names.subjects.taskEvent(e.task_id, e.kind), encode(e))),
      );
    }
    await waitFor(() => c.store.eventCursor() === events.length, { timeout: 30_000 });
    const elapsed = Date.now() - started;
    const page = await getJson<{ tasks: unknown[] }>(`${c.url}/api/v1/tasks?status=completed&limit=1000`);
    expect(page.body.tasks).toHaveLength(1000);
    expect(elapsed).toBeLessThan(20_000);
  });
});
