import { silentLogger } from "@openclaw/log";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import { tempDir } from "./fixtures.js";
import { DEFAULTS, storeEvents, TaskPlay, taskSpec } from "./task-fixtures.js";

describe("GET /api/v1/cluster/queue", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  let now = new Date("2026-02-16T16:00:00.000Z");

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      now: () => now,
      tasks: { defaults: DEFAULTS, maxPending: 10_000 },
    });
  });
  afterEach(async () => {
    await api.close();
    store.close();
    tmp.cleanup();
  });

  const queue = async () => {
    const res = await api.inject({ method: "GET", url: "/api/v1/cluster/queue" });
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it("counts live tasks by status, waiting ones by priority, and all of them by skill; ended ones not at all", async () => {
    expect(await queue()).toMatchObject({
      pending: 0,
      scheduled: 0,
      running: 0,
      pending_by_priority: { critical: 0, high: 0, normal: 0, low: 0 },
      by_skill: [],
    });

    const play = (id: string, skill: string, priority: "critical" | "high" | "normal" | "low", more = {}) =>
      new TaskPlay(taskSpec(id, { type: skill, priority, ...more }));
    storeEvents(store, play("p1", "echo", "high").submitted());
    storeEvents(store, play("p2", "echo", "high").submitted());
    storeEvents(store, play("p3", "translate", "low", { required_skills: ["python"] }).submitted());
    const s = play("s1", "echo", "normal");
    storeEvents(store, s.submitted(), s.scheduled("w1"));
    const r = play("r1", "translate", "critical");
    storeEvents(store, r.submitted(), r.scheduled("w1"), r.started());
    const done = play("d1", "echo", "high");
    storeEvents(store, done.submitted(), done.scheduled("w1"), done.started(), done.completed(1));
    const gone = play("c1", "echo", "low");
    storeEvents(store, gone.submitted(), gone.cancelled());
    now = new Date(now.getTime() + 5000); // past the answer cache

    const q = await queue();
    expect(q).toMatchObject({
      checked_at: now.toISOString(),
      pending: 3,
      scheduled: 1,
      running: 1,
      pending_by_priority: { critical: 0, high: 2, normal: 0, low: 1 },
    });
    // Most waiting first, then most running; a task that needs two skills counts under both.
    expect(q.by_skill).toEqual([
      { skill: "echo", pending: 2, scheduled: 1, running: 0 },
      { skill: "translate", pending: 1, scheduled: 0, running: 1 },
      { skill: "python", pending: 1, scheduled: 0, running: 0 },
    ]);
  });
});
