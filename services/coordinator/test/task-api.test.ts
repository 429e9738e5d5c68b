import { decode, type ServiceContext } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { TaskCancel, TaskRetry, TaskSubmit } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi, type TaskSettings } from "../src/http/api.js";
import { natsTaskBus } from "../src/task-bus.js";
import { tempDir } from "./fixtures.js";
import { Harness } from "./harness.js";
import { DEFAULTS, storeEvents, TaskPlay, taskSpec } from "./task-fixtures.js";

const NOW = new Date("2026-02-16T16:00:00.000Z");

const TASK_FIELDS = [
  // seed 004
  "task_id",
  "task_type",
  "name",
  "description",
  "required_skills",
  "optional_skills",
  "status",
  "priority",
  "assigned_node",
  "submitted_at",
  "scheduled_at",
  "started_at",
  "completed_at",
  "parameters",
  "timeout",
  "retry_count",
  "max_retries",
  "user_id",
  "affinity_tags",
  "result",
  "error",
  "metadata",
  // the scheduler's record
  "payload",
  "timeout_ms",
  "retry",
  "attempt",
  "attempts",
  "progress",
  "waiting_reason",
  "next_attempt_at",
  "constraints",
  "affinity_key",
  "idempotency_key",
  "strategy",
  "checkpoint",
  "cancel_requested",
  "updated_at",
].sort();

describe("task HTTP API", () => {
  let server: NatsServer;
  let h: Harness;
  let ctx: ServiceContext;
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;

  function build(settings: Partial<TaskSettings> = {}, withBus = true): Api {
    const app = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      now: () => NOW,
      ...(withBus ? { bus: natsTaskBus(ctx.cluster, silentLogger(), ctx.sender) } : {}),
      sender: { service: "coordinator", instance: "c1" },
      tasks: { defaults: DEFAULTS, maxPending: 10_000, ...settings },
    });
    return app;
  }

  async function call(method: "GET" | "POST", url: string, body?: unknown, app = api) {
    const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  }

  /** The messages in the scheduler's inbox on one subject, decoded. */
  async function inbox<S extends typeof TaskSubmit | typeof TaskCancel | typeof TaskRetry>(
    subject: string,
    schema: S,
  ) {
    const { jsm, names } = ctx.cluster;
    const info = await jsm.streams.info(names.streams.sched, { subjects_filter: subject });
    const out: { msgId: string | undefined; value: ReturnType<S["parse"]> }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(names.streams.sched, { seq }).catch(() => undefined);
      if (!m || m.subject !== subject) continue;
      const decoded = decode(schema, m.data);
      if (!decoded.ok) throw new Error(decoded.error);
      out.push({ msgId: m.header?.get("Nats-Msg-Id"), value: decoded.value as ReturnType<S["parse"]> });
    }
    return out;
  }

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    h = new Harness(server.url, uniquePrefix());
    ctx = await h.context();
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    api = build();
  });
  afterEach(async () => {
    await api.close();
    store.close();
    await h.closeAll();
    tmp.cleanup();
  });

  describe("POST /api/v1/tasks", () => {
    it("puts the submission in the scheduler's inbox and answers 202 with the task id", async () => {
      const res = await call("POST", "/api/v1/tasks", {
        type: "translate",
        payload: { text: "hallo", to: "en" },
        priority: "high",
        timeout: "90s",
        retry: { max_attempts: 5 },
        affinity_key: "user-7",
        metadata: { source: "test" },
      });
      expect(res.status).toBe(202);
      const id = res.body.task_id as string;
      expect(id).toMatch(/^t-/);
      expect(res.body).toEqual({
        task_id: id,
        status: "pending",
        submitted_at: NOW.toISOString(),
        links: {
          self: `/api/v1/tasks/${id}`,
          events: `/api/v1/tasks/${id}/events`,
          result: `/api/v1/tasks/${id}/result`,
        },
      });
      expect(res.headers.location).toBe(`/api/v1/tasks/${id}`);

      const sent = await inbox(ctx.cluster.names.subjects.schedSubmit, TaskSubmit);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.msgId).toBe(id);
      expect(sent[0]?.value).toMatchObject({
        submitted_at: NOW.toISOString(),
        sender: { service: "coordinator", instance: "c1" },
        task: {
          task_id: id,
          task_type: "translate",
          required_skills: ["translate"],
          priority: "high",
          timeout_ms: 90_000,
          retry: { ...DEFAULTS.retry, max_attempts: 5 },
          affinity_key: "user-7",
          payload: { text: "hallo", to: "en" },
        },
      });

      const task = await call("GET", `/api/v1/tasks/${id}`);
      expect(task.status).toBe(200);
      expect(Object.keys(task.body).sort()).toEqual(TASK_FIELDS);
      expect(task.body).toMatchObject({
        task_id: id,
        task_type: "translate",
        name: "translate",
        status: "pending",
        priority: "high",
        parameters: { text: "hallo", to: "en" },
        payload: { text: "hallo", to: "en" },
        timeout: 90,
        timeout_ms: 90_000,
        retry_count: 0,
        max_retries: 4,
        affinity_tags: ["user-7"],
        metadata: { source: "test" },
        attempt: 0,
        attempts: [],
        result: null,
        error: null,
        progress: null,
      });
    });

    it("returns the same task for the same task_id or idempotency_key (200), and submits it once", async () => {
      const first = await call("POST", "/api/v1/tasks", { task_id: "mine-1", type: "python" });
      expect(first.status).toBe(202);
      const again = await call("POST", "/api/v1/tasks", {
        task_id: "mine-1",
        type: "python",
        priority: "low",
      });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ task_id: "mine-1", status: "pending", priority: "normal" });
      expect(again.body.links.self).toBe("/api/v1/tasks/mine-1");

      const keyed = await call("POST", "/api/v1/tasks", { type: "python", idempotency_key: "order-42" });
      expect(keyed.status).toBe(202);
      const repeat = await call("POST", "/api/v1/tasks", {
        type: "python",
        idempotency_key: "order-42",
        payload: { other: true },
      });
      expect(repeat.status).toBe(200);
      expect(repeat.body.task_id).toBe(keyed.body.task_id);
      // A task that got its own id but carries the key is found by the key too.
      const own = await call("POST", "/api/v1/tasks", {
        task_id: "own",
        type: "python",
        idempotency_key: "k2",
      });
      expect(own.status).toBe(202);
      const byKey = await call("POST", "/api/v1/tasks", { type: "python", idempotency_key: "k2" });
      expect(byKey).toMatchObject({ status: 200, body: { task_id: "own" } });

      const sent = await inbox(ctx.cluster.names.subjects.schedSubmit, TaskSubmit);
      expect(sent.map((m) => m.msgId)).toEqual(["mine-1", keyed.body.task_id, "own"]);
    });

    it.each([
      [{ type: "python", colour: "red" }, "colour", /Unrecognized key/],
      [{ type: "python", retry: { max_tries: 3 } }, "retry.max_tries", /Unrecognized key/],
      [{ type: "python", priority: "urgent" }, "priority", /critical/],
      [{ type: "python", timeout: "soon" }, "timeout", /duration/],
      [{ type: "python", retry: { max_attempts: "3" } }, "retry.max_attempts", /number/],
      [{ required_skills: ["a.b"] }, "required_skills.0", /contains '\.'/],
      [{ required_skills: ["python", "a*"] }, "required_skills.1", /contains '\*'/],
      [{ type: ">" }, "type", /contains '>'/],
      [{ payload: 1 }, "required_skills", /at least one skill/],
      [{ type: "python", optional_skills: "gpu" }, "optional_skills", /array/],
    ])("refuses %j with 400 OC-4000 naming %s", async (body, field, message) => {
      const res = await call("POST", "/api/v1/tasks", body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: "Bad Request", code: "OC-4000", field });
      expect(res.body.message).toMatch(message);
      expect(res.body.message.startsWith(`${field}: `)).toBe(true);
    });

    it("refuses a body that is not a JSON object", async () => {
      const array = await call("POST", "/api/v1/tasks", [1, 2]);
      expect(array.status).toBe(400);
      expect(array.body).toMatchObject({ code: "OC-4000" });
      const broken = await api.inject({
        method: "POST",
        url: "/api/v1/tasks",
        headers: { "content-type": "application/json" },
        payload: "{nope",
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.json()).toMatchObject({ code: "OC-4000" });
    });

    it("refuses an oversized payload with 400 OC-4002, also far beyond the body limit", async () => {
      await api.close();
      api = build({ defaults: { ...DEFAULTS, max_payload_bytes: 1000 } });
      const over = await call("POST", "/api/v1/tasks", { type: "python", payload: "x".repeat(1000) });
      expect(over.status).toBe(400);
      expect(over.body).toMatchObject({ code: "OC-4002", field: "payload" });
      expect(over.body.message).toContain("limit is 1000");
      const huge = await call("POST", "/api/v1/tasks", { type: "python", payload: "x".repeat(200_000) });
      expect(huge.status).toBe(400);
      expect(huge.body).toMatchObject({ code: "OC-4002", field: "payload" });
      const fits = await call("POST", "/api/v1/tasks", { type: "python", payload: "x".repeat(990) });
      expect(fits.status).toBe(202);
      expect(await inbox(ctx.cluster.names.subjects.schedSubmit, TaskSubmit)).toHaveLength(1);
    });

    it("answers 429 OC-4029 while max_pending tasks are pending, and submits nothing", async () => {
      await api.close();
      api = build({ maxPending: 1 });
      storeEvents(store, new TaskPlay(taskSpec("waiting")).submitted());
      const res = await call("POST", "/api/v1/tasks", { type: "python" });
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ statusCode: 429, error: "Too Many Requests", code: "OC-4029" });
      expect(res.body.message).toContain("scheduler.max_pending");
      expect(res.headers["retry-after"]).toBe("5");
      // A repeat of a known task is still answered.
      expect((await call("POST", "/api/v1/tasks", { task_id: "waiting", type: "python" })).status).toBe(200);
      expect(await inbox(ctx.cluster.names.subjects.schedSubmit, TaskSubmit)).toEqual([]);
      // Once it is scheduled there is room again.
      const play = new TaskPlay(taskSpec("waiting"));
      storeEvents(store, play.scheduled("w1"));
      expect((await call("POST", "/api/v1/tasks", { type: "python" })).status).toBe(202);
    });

    it("answers 503 without a bus, and 503 OC-5003 when NATS does not confirm", async () => {
      const noBus = build({}, false);
      try {
        const res = await call("POST", "/api/v1/tasks", { type: "python" }, noBus);
        expect(res).toMatchObject({ status: 503, body: { code: "OC-5003" } });
      } finally {
        await noBus.close();
      }
      await ctx.cluster.jsm.streams.delete(ctx.cluster.names.streams.sched);
      const res = await call("POST", "/api/v1/tasks", { task_id: "lost", type: "python" });
      expect(res).toMatchObject({ status: 503, body: { code: "OC-5003" } });
      expect(res.body.message).toContain("nothing was accepted");
      expect(store.tasks.get("lost")).toBeUndefined();
    });
  });

  describe("GET /api/v1/tasks/:id and friends", () => {
    it("answers a task with attempts, timings, progress, result and error", async () => {
      const play = new TaskPlay(taskSpec("t1", { payload: { q: 1 } }));
      storeEvents(store, play.submitted(), play.scheduled("w1"), play.started(), play.failed());
      storeEvents(store, play.scheduled("w2"), play.started(), play.progress(70, "almost"));
      storeEvents(store, play.completed({ answer: 42 }));
      const { status, body } = await call("GET", "/api/v1/tasks/t1");
      expect(status).toBe(200);
      expect(body).toMatchObject({
        status: "completed",
        attempt: 2,
        retry_count: 1,
        assigned_node: "w2",
        submitted_at: "2026-02-16T16:00:00.000Z",
        scheduled_at: expect.any(String),
        started_at: expect.any(String),
        completed_at: expect.any(String),
        progress: { percent: 70, message: "almost" },
        result: { answer: 42 },
        error: { code: "OC-6001", message: "boom", retryable: true },
        payload: { q: 1 },
      });
      expect(body.attempts.map((a: { node_id: string; status: string }) => [a.node_id, a.status])).toEqual([
        ["w1", "failed"],
        ["w2", "completed"],
      ]);
    });

    it("answers 404 OC-4006 for an unknown task and 400 OC-4001 for a malformed id, on every task route", async () => {
      const routes: ["GET" | "POST", string][] = [
        ["GET", ""],
        ["GET", "/events"],
        ["GET", "/result"],
        ["POST", "/cancel"],
        ["POST", "/retry"],
      ];
      for (const [method, suffix] of routes) {
        const missing = await call(method, `/api/v1/tasks/nope${suffix}`);
        expect(missing.status).toBe(404);
        expect(missing.body).toMatchObject({ statusCode: 404, error: "Not Found", code: "OC-4006" });
        expect(missing.body.message).toContain("task 'nope' is not known");
        for (const bad of ["a.b", "*", ">", "x".repeat(65)]) {
          const res = await call(method, `/api/v1/tasks/${encodeURIComponent(bad)}${suffix}`);
          expect(res.status).toBe(400);
          expect(res.body).toMatchObject({ code: "OC-4001", field: "id" });
          expect(res.body.message).toMatch(/^task id '/);
        }
      }
    });

    it("GET /result answers 202 with the current status at once, 200 once terminal; ?wait= is checked", async () => {
      const play = new TaskPlay(taskSpec("t1"));
      storeEvents(store, play.submitted());
      const now = await call("GET", "/api/v1/tasks/t1/result");
      expect(now).toMatchObject({
        status: 202,
        body: { task_id: "t1", status: "pending", result: null, error: null },
      });
      storeEvents(store, play.scheduled("w1"), play.started(), play.completed(["done"]));
      const done = await call("GET", "/api/v1/tasks/t1/result?wait=30s");
      expect(done).toMatchObject({
        status: 200,
        body: { status: "completed", result: ["done"], error: null },
      });
      for (const wait of ["6m", "soon", "-1", "301"]) {
        const bad = await call("GET", `/api/v1/tasks/t1/result?wait=${wait}`);
        expect(bad.status).toBe(400);
        expect(bad.body).toMatchObject({ code: "OC-4000", field: "wait" });
      }
      expect((await call("GET", "/api/v1/tasks/t1/result?wait=5m")).status).toBe(200);
      expect((await call("GET", "/api/v1/tasks/t1/result?timeout=1")).body).toMatchObject({
        field: "timeout",
      });
    });
  });

  describe("POST /api/v1/tasks/:id/cancel and /retry", () => {
    it("cancel sends TaskCancel for a live task (202) and answers 409 for a terminal one", async () => {
      const play = new TaskPlay(taskSpec("t1"));
      storeEvents(store, play.submitted(), play.scheduled("w1"), play.started());
      const res = await call("POST", "/api/v1/tasks/t1/cancel", { reason: "changed my mind" });
      expect(res).toMatchObject({ status: 202, body: { task_id: "t1", status: "running" } });
      // A double click is dropped by JetStream's duplicate window.
      expect((await call("POST", "/api/v1/tasks/t1/cancel")).status).toBe(202);
      const sent = await inbox(ctx.cluster.names.subjects.schedCancel, TaskCancel);
      expect(sent.map((m) => [m.msgId, m.value.task_id, m.value.reason])).toEqual([
        ["cancel-t1-3", "t1", "changed my mind"],
      ]);
      expect((await call("POST", "/api/v1/tasks/t1/cancel", { why: 1 })).body).toMatchObject({
        code: "OC-4000",
        field: "why",
      });

      storeEvents(store, play.completed(1));
      const late = await call("POST", "/api/v1/tasks/t1/cancel");
      expect(late.status).toBe(409);
      expect(late.body).toMatchObject({ statusCode: 409, error: "Conflict", code: "OC-4009" });
      expect(late.body.message).toContain("completed already");
    });

    it("retry sends TaskRetry for failed, timed-out and cancelled tasks and answers 409 otherwise", async () => {
      const failed = new TaskPlay(taskSpec("f", { retry: { max_attempts: 1 } }));
      storeEvents(store, failed.submitted(), failed.scheduled("w1"), failed.started(), failed.failed());
      const timedOut = new TaskPlay(taskSpec("to", { timeout: "1s" }));
      storeEvents(
        store,
        timedOut.submitted(),
        timedOut.scheduled("w1"),
        timedOut.started(),
        timedOut.timedOut(),
      );
      const cancelled = new TaskPlay(taskSpec("c"));
      storeEvents(store, cancelled.submitted(), cancelled.cancelled());
      const running = new TaskPlay(taskSpec("r"));
      storeEvents(store, running.submitted(), running.scheduled("w1"), running.started());
      const done = new TaskPlay(taskSpec("d"));
      storeEvents(store, done.submitted(), done.scheduled("w1"), done.started(), done.completed(1));

      for (const [id, status] of [
        ["f", "failed"],
        ["to", "timeout"],
        ["c", "cancelled"],
      ]) {
        expect(await call("POST", `/api/v1/tasks/${id}/retry`)).toMatchObject({
          status: 202,
          body: { task_id: id, status },
        });
      }
      for (const id of ["r", "d"]) {
        const res = await call("POST", `/api/v1/tasks/${id}/retry`);
        expect(res.status).toBe(409);
        expect(res.body).toMatchObject({ code: "OC-4009" });
        expect(res.body.message).toContain("only failed, timeout, cancelled tasks can be retried");
      }
      const sent = await inbox(ctx.cluster.names.subjects.schedRetry, TaskRetry);
      expect(sent.map((m) => m.value.task_id)).toEqual(["f", "to", "c"]);

      // Retried, failed again: a second retry is a new request, not a duplicate.
      storeEvents(store, failed.retried(), failed.scheduled("w2"), failed.started(), failed.failed());
      expect((await call("POST", "/api/v1/tasks/f/retry")).status).toBe(202);
      expect((await inbox(ctx.cluster.names.subjects.schedRetry, TaskRetry)).length).toBe(4);
    });
  });

  describe("GET /api/v1/tasks", () => {
    const SKILLS = ["python", "shell", "translate"];
    const STATUSES = ["pending", "running", "completed", "failed", "cancelled"] as const;

    /** 250 tasks, one a minute, with statuses, skills and nodes in rotation. */
    function seed(): { id: string; at: string; status: string; skill: string; node: string | null }[] {
      const out = [];
      for (let i = 0; i < 250; i++) {
        const id = `task-${String(i).padStart(3, "0")}`;
        const at = new Date(Date.parse("2026-02-16T00:00:00.000Z") + i * 60_000).toISOString();
        const skill = SKILLS[i % 3] as string;
        const play = new TaskPlay(taskSpec(id, { type: skill }), at);
        const status = STATUSES[i % 5] as (typeof STATUSES)[number];
        const node = status === "pending" ? null : `w${i % 4}`;
        const events = [play.submitted()];
        if (status === "cancelled") events.push(play.cancelled());
        else if (node) {
          events.push(play.scheduled(node), play.started());
          if (status === "completed") events.push(play.completed(i));
          if (status === "failed") {
            const e = new TaskPlay(taskSpec(id, { type: skill, retry: { max_attempts: 1 } }), at);
            events.splice(0, events.length, e.submitted(), e.scheduled(node), e.started(), e.failed());
          }
        }
        storeEvents(store, ...events);
        out.push({ id, at, status, skill, node: status === "cancelled" ? null : node });
      }
      return out.reverse(); // newest first
    }

    async function allPages(query: string, limit: number): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const url: string = `/api/v1/tasks?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`;
        const res = await call("GET", url);
        expect(res.status).toBe(200);
        expect(res.body.tasks.length).toBeLessThanOrEqual(limit);
        ids.push(...res.body.tasks.map((t: { task_id: string }) => t.task_id));
        cursor = res.body.next_cursor;
        if (!cursor) return ids;
      }
      throw new Error("too many pages");
    }

    it("pages through 250 tasks newest first, with every filter and their combinations", async () => {
      const tasks = seed();
      const ids = (filter: (t: (typeof tasks)[number]) => boolean) => tasks.filter(filter).map((t) => t.id);

      expect(await allPages("", 40)).toEqual(ids(() => true));
      expect(await allPages("", 250)).toEqual(ids(() => true));
      expect(await allPages("&status=running", 7)).toEqual(ids((t) => t.status === "running"));
      expect(await allPages("&status=failed,cancelled", 20)).toEqual(
        ids((t) => t.status === "failed" || t.status === "cancelled"),
      );
      expect(await allPages("&skill=shell", 30)).toEqual(ids((t) => t.skill === "shell"));
      expect(await allPages("&node=w1", 9)).toEqual(ids((t) => t.node === "w1"));
      const since = "2026-02-16T01:00:00.000Z";
      const until = "2026-02-16T03:00:00Z";
      expect(await allPages(`&since=${since}&until=${until}`, 25)).toEqual(
        ids((t) => t.at >= since && t.at < "2026-02-16T03:00:00.000Z"),
      );
      expect(await allPages(`&skill=python&status=completed&since=${since}`, 3)).toEqual(
        ids((t) => t.skill === "python" && t.status === "completed" && t.at >= since),
      );
      expect(await allPages("&since=2026-02-17", 10)).toEqual([]);

      const first = await call("GET", "/api/v1/tasks?limit=2");
      expect(first.body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(["task-249", "task-248"]);
      // The list leaves out payload and result; the task itself has them.
      expect(Object.keys(first.body.tasks[0]).sort()).toEqual(
        TASK_FIELDS.filter((f) => !["parameters", "payload", "result"].includes(f)),
      );
      const defaultPage = await call("GET", "/api/v1/tasks");
      expect(defaultPage.body.tasks).toHaveLength(100);
    });

    it.each([
      ["status=bogus", "status", /not one of: pending, scheduled/],
      ["status=running,nope", "status", /'nope'/],
      ["skill=a.b", "skill", /skill 'a.b' contains/],
      ["node=w*", "node", /node id 'w\*' contains/],
      ["since=yesterday", "since", /ISO 8601/],
      ["until=2026-13-01", "until", /ISO 8601/],
      ["limit=0", "limit", /1 to 1000/],
      ["limit=1001", "limit", /1 to 1000/],
      ["cursor=garbage", "cursor", /next_cursor/],
      ["stauts=running", "stauts", /Unrecognized key/],
    ])("refuses ?%s with 400 OC-4000 naming %s", async (query, field, message) => {
      const res = await call("GET", `/api/v1/tasks?${query}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: "OC-4000", field });
      expect(res.body.message).toMatch(message);
    });
  });
});
