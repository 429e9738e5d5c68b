import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyMigrations, MIGRATIONS } from "../src/db/migrations.js";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { canonicalTime } from "../src/db/task-store.js";
import { nodeRecord, tempDir } from "./fixtures.js";
import { storeEvents, TaskPlay, taskSpec } from "./task-fixtures.js";

describe("task read model", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  it("migration 2 adds the task tables and indexes, and leaves migration 1 as it was", () => {
    expect(MIGRATIONS.map((m) => [m.version, m.name])).toEqual([
      [1, "nodes"],
      [2, "tasks"],
      [3, "drain and circuit breakers"],
    ]);
    const db = new Database(tmp.file("cluster.db"), { readonly: true });
    try {
      const names = db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'",
        )
        .pluck()
        .all();
      expect(names).toEqual(
        expect.arrayContaining([
          "tasks",
          "task_skills",
          "task_events",
          "node_task_stats",
          "tasks_status",
          "tasks_submitted",
          "tasks_node",
          "task_skills_skill",
          "task_events_task",
        ]),
      );
    } finally {
      db.close();
    }
  });

  it("follows a task through its snapshots: payload from submitted, result from completed", () => {
    const play = new TaskPlay(
      taskSpec("t1", { payload: { text: "hi" }, required_skills: ["python", "gpu"] }),
    );
    storeEvents(store, play.submitted(), play.scheduled("w1"), play.started());
    expect(store.tasks.get("t1")).toMatchObject({
      status: "running",
      attempt: 1,
      assigned_node: "w1",
      payload: JSON.stringify({ text: "hi" }),
      result: null,
      updated_seq: 3,
    });
    storeEvents(store, play.progress(40, "reading"), play.completed({ words: 1 }));
    const row = store.tasks.get("t1");
    expect(row).toMatchObject({ status: "completed", result: '{"words":1}', payload: '{"text":"hi"}' });
    expect(JSON.parse(row?.progress ?? "null")).toEqual({ percent: 40, message: "reading" });
    expect(store.eventCursor()).toBe(5);
    // Payload and result are stored once (in the row) and put back when events are read.
    const events = store.tasks.eventsAfter("t1", 0);
    expect(events.map((e) => [e.seq, e.kind])).toEqual([
      [1, "submitted"],
      [2, "scheduled"],
      [3, "started"],
      [4, "progress"],
      [5, "completed"],
    ]);
    expect(JSON.parse(events[0]?.data ?? "{}").payload).toEqual({ text: "hi" });
    expect(JSON.parse(events[4]?.data ?? "{}").result).toEqual({ words: 1 });
    expect(store.tasks.eventsAfter("t1", 3).map((e) => e.seq)).toEqual([4, 5]);
    expect(store.tasks.list({ skill: "gpu", limit: 10 }).map((t) => t.task_id)).toEqual(["t1"]);
  });

  it("takes a task's whole life in one batch: the last snapshot, with the payload and result the others brought", () => {
    store.applyBatch([nodeRecord("w1")]);
    const play = new TaskPlay(taskSpec("t1", { payload: { text: "hi" } }));
    storeEvents(
      store,
      play.submitted(),
      play.scheduled("w1"),
      play.started(),
      play.progress(40, "reading"),
      play.completed({ words: 1 }, 1000),
    );
    const row = store.tasks.get("t1");
    expect(row).toMatchObject({
      status: "completed",
      payload: '{"text":"hi"}',
      result: '{"words":1}',
      updated_seq: 5,
    });
    expect(JSON.parse(row?.progress ?? "null")).toEqual({ percent: 40, message: "reading" });
    expect(store.tasks.eventsAfter("t1", 0).map((e) => e.kind)).toEqual([
      "submitted",
      "scheduled",
      "started",
      "progress",
      "completed",
    ]);
    expect(store.getNode("w1")).toMatchObject({ total_tasks_processed: 1, successful_tasks: 1 });
  });

  it("drops a row the API added for a submission whose idempotency key the scheduler gave another task", () => {
    // Two concurrent submissions with one key ran two tasks; now the scheduler makes one and drops
    // the other, and the row this coordinator added for the dropped one must not stay pending.
    const at = "2026-02-16T16:00:00Z";
    store.tasks.insertSubmitted(taskSpec("dup", { idempotency_key: "k" }), at);
    store.tasks.insertSubmitted(taskSpec("other-key", { idempotency_key: "k2" }), at);
    const first = new TaskPlay(taskSpec("first", { idempotency_key: "k" }));
    storeEvents(store, first.submitted());
    expect(store.tasks.get("dup")).toBeUndefined();
    expect(store.tasks.get("first")).toMatchObject({ status: "pending", idempotency_key: "k" });
    expect(store.tasks.get("other-key")).toMatchObject({ status: "pending" });
    expect(store.tasks.byIdempotencyKey("k")?.task_id).toBe("first");
    expect(store.tasks.pendingCount()).toBe(2);
  });

  it("a row the API added at submission takes the scheduler's snapshots: spec once, then each state", () => {
    const spec = taskSpec("t-api", { payload: { n: 1 }, required_skills: ["echo"] });
    expect(store.tasks.insertSubmitted(spec, "2026-02-16T16:00:00Z")).toBe(true);
    expect(store.tasks.get("t-api")).toMatchObject({
      status: "pending",
      submitted_at: "2026-02-16T16:00:00.000Z",
    });
    const play = new TaskPlay(spec);
    storeEvents(store, play.submitted(), play.scheduled("w1"));
    storeEvents(store, play.started());
    storeEvents(store, play.completed({ ok: true }));
    expect(store.tasks.get("t-api")).toMatchObject({
      task_type: spec.task_type,
      required_skills: JSON.stringify(spec.required_skills),
      status: "completed",
      assigned_node: "w1",
      attempt: 1,
      payload: '{"n":1}',
      result: '{"ok":true}',
      updated_seq: 4,
    });
    expect(
      store.tasks.list({ skill: "echo", statuses: ["completed"], limit: 10 }).map((t) => t.task_id),
    ).toEqual(["t-api"]);
  });

  it("stores times in toISOString form, whatever form they came in", () => {
    expect(canonicalTime("2026-02-16T16:00:00.000Z")).toBe("2026-02-16T16:00:00.000Z");
    expect(canonicalTime("2026-02-16T16:00:00Z")).toBe("2026-02-16T16:00:00.000Z");
    expect(canonicalTime("2026-02-16T17:00:00.5+01:00")).toBe("2026-02-16T16:00:00.500Z");
    expect(canonicalTime(null)).toBeNull();
  });

  it("never moves a row back to an older snapshot", () => {
    const play = new TaskPlay(taskSpec("t1"));
    const submitted = play.submitted();
    const scheduled = play.scheduled("w1");
    store.recordEvents([{ seq: 10, scope: "task", event: scheduled }]);
    store.recordEvents([{ seq: 11, scope: "task", event: { ...submitted, id: "other" } }]);
    // seq 11 is newer in the stream, so it wins; a replay of seq 10 then changes nothing.
    expect(store.tasks.get("t1")?.status).toBe("pending");
    store.recordEvents([{ seq: 10, scope: "task", event: scheduled }]);
    expect(store.tasks.get("t1")).toMatchObject({ status: "pending", updated_seq: 11 });
  });

  it("applies progress only to the current attempt", () => {
    const play = new TaskPlay(taskSpec("t1"));
    storeEvents(store, play.submitted(), play.scheduled("w1"), play.started(), play.progress(10));
    storeEvents(store, play.failed(), play.scheduled("w2"));
    // The new attempt starts without progress; the old attempt's late report is ignored.
    storeEvents(store, play.progress(90, "late", 1));
    expect(store.tasks.get("t1")).toMatchObject({ attempt: 2, progress: null });
    storeEvents(store, play.started(), play.progress(50));
    // A snapshot without progress keeps the current attempt's.
    storeEvents(store, play.waiting("checking"));
    expect(JSON.parse(store.tasks.get("t1")?.progress ?? "null")).toMatchObject({ percent: 50 });
  });

  it("counts each ended attempt once on its node, also when the node's row comes later", () => {
    store.applyBatch([nodeRecord("w1")]);
    const a = new TaskPlay(taskSpec("a"));
    storeEvents(store, a.submitted(), a.scheduled("w1"), a.started(), a.completed({ ok: 1 }, 2000));
    const b = new TaskPlay(taskSpec("b"));
    storeEvents(store, b.submitted(), b.scheduled("w1"), b.started(), b.failed(), b.scheduled("w2"));
    storeEvents(store, b.started(), b.completed({ ok: 2 }, 4000));
    // Later snapshots still show the ended attempts; they count once.
    storeEvents(store, b.waiting("still here"));
    const c = new TaskPlay(taskSpec("c", { timeout: "1s" }));
    storeEvents(store, c.submitted(), c.scheduled("w1"), c.started(), c.timedOut());
    const d = new TaskPlay(taskSpec("d"));
    storeEvents(store, d.submitted(), d.scheduled("w1"), d.started(), d.cancelled());

    expect(store.getNode("w1")).toMatchObject({
      total_tasks_processed: 3,
      successful_tasks: 1,
      failed_tasks: 2,
      average_execution_time: 2,
    });
    // w2 registers after its attempt ended: its row starts with the counters.
    store.applyBatch([nodeRecord("w2")]);
    expect(store.getNode("w2")).toMatchObject({
      total_tasks_processed: 1,
      successful_tasks: 1,
      failed_tasks: 0,
      average_execution_time: 4,
    });
    // Heartbeats do not reset them.
    store.applyBatch([nodeRecord("w1", { running: 1 }), nodeRecord("w2")]);
    expect(store.getNode("w1")?.total_tasks_processed).toBe(3);
    expect(store.getNode("w2")?.successful_tasks).toBe(1);
  });

  it("forgets history but keeps rows and counters when the EVENTS stream is recreated", () => {
    store.applyBatch([nodeRecord("w1")]);
    const a = new TaskPlay(taskSpec("a"));
    storeEvents(store, a.submitted(), a.scheduled("w1"), a.started(), a.completed(1));
    store.resetEventHistory();
    expect(store.eventCursor()).toBe(0);
    expect(store.tasks.eventsAfter("a", 0)).toEqual([]);
    expect(store.tasks.get("a")).toMatchObject({ status: "completed", updated_seq: 0 });
    // The new stream replays the task from seq 1: its attempt is not counted again.
    storeEvents(store, a.completed(1));
    expect(store.getNode("w1")?.total_tasks_processed).toBe(1);
  });

  it("tells listeners which tasks changed, after the commit", () => {
    const seen: string[][] = [];
    const off = store.tasks.onChange((ids) => seen.push([...ids]));
    const a = new TaskPlay(taskSpec("a"));
    const b = new TaskPlay(taskSpec("b"));
    storeEvents(store, a.submitted(), b.submitted(), a.scheduled("w1"));
    store.tasks.insertSubmitted(taskSpec("c"), "2026-02-16T16:00:00.000Z");
    store.tasks.insertSubmitted(taskSpec("c"), "2026-02-16T16:00:00.000Z"); // there already
    off();
    storeEvents(store, b.scheduled("w1"));
    expect(seen).toEqual([["a", "b"], ["c"]]);
  });
});

describe("upgrading a read model from migration 1", () => {
  it("reads the EVENTS stream again from its start, so task events the old cursor skipped are seen", () => {
    const tmp = tempDir();
    try {
      const path = tmp.file("old.db");
      const db = new Database(path);
      applyMigrations(db, MIGRATIONS.slice(0, 1));
      db.prepare("INSERT INTO meta (key, value) VALUES ('events_cursor', '42')").run();
      db.close();
      const store = openStore(path);
      try {
        expect(store.eventCursor()).toBe(0);
      } finally {
        store.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
