import { readdirSync, readFileSync } from "node:fs";
import { silentLogger } from "@openclaw/log";
import type { TaskEvent } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Activity } from "../src/activity.js";
import { type NodeStore, openStore, type StreamEvent } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import { nodeRecord, tempDir } from "./fixtures.js";
import { DEFAULTS, TaskPlay, taskSpec } from "./task-fixtures.js";

/** What the dashboard needs from the API: pages of nodes, the activity series, the live feed, its files. */
describe("the dashboard's API", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  let activity: Activity;
  const now = new Date("2026-02-16T16:10:00.000Z");

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    activity = new Activity(5000, 60_000);
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      now: () => now,
      activity,
      tasks: { defaults: DEFAULTS, maxPending: 10_000 },
    });
  });
  afterEach(async () => {
    await api.close();
    store.close();
    tmp.cleanup();
  });

  it("pages node lists (limit, offset, X-Total-Count); without paging the whole list, as seed 004 has it", async () => {
    store.applyBatch(
      Array.from({ length: 120 }, (_, i) =>
        nodeRecord(`n${String(i).padStart(3, "0")}`, { skills: ["echo"] }),
      ),
    );
    const first = await api.inject({ method: "GET", url: "/api/v1/nodes?limit=50" });
    expect(first.headers["x-total-count"]).toBe("120");
    expect(first.json().map((n: { node_id: string }) => n.node_id)).toEqual(
      Array.from({ length: 50 }, (_, i) => `n${String(i).padStart(3, "0")}`),
    );
    const last = await api.inject({ method: "GET", url: "/api/v1/nodes?limit=50&offset=100" });
    expect(last.json()).toHaveLength(20);
    expect(last.json()[0].node_id).toBe("n100");
    const skill = await api.inject({
      method: "GET",
      url: "/api/v1/nodes/skills/echo?status=any&limit=10&offset=5",
    });
    expect(skill.headers["x-total-count"]).toBe("120");
    expect(skill.json().map((n: { node_id: string }) => n.node_id)[0]).toBe("n005");
    const all = await api.inject({ method: "GET", url: "/api/v1/nodes" });
    expect(all.json()).toHaveLength(120);
    expect(all.headers["x-total-count"]).toBeUndefined();
    const bad = await api.inject({ method: "GET", url: "/api/v1/nodes?offset=-1" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "OC-4000", field: "offset" });
  });

  it("the series counts what happened in each step, with latency percentiles", async () => {
    const events: StreamEvent[] = [];
    let seq = 0;
    // An event's time is its envelope's: set it to the time its record says the change happened.
    const at = (e: TaskEvent): TaskEvent => {
      const t = "task" in e ? e.task : undefined;
      return { ...e, ts: t?.completed_at ?? t?.started_at ?? t?.scheduled_at ?? t?.submitted_at ?? e.ts };
    };
    for (let i = 0; i < 4; i++) {
      const spec = taskSpec(`t${i}`, { type: "echo", retry: { max_attempts: 1 } });
      const play = new TaskPlay(spec, "2026-02-16T16:09:30.000Z");
      const all = [
        play.submitted(),
        play.scheduled("w1"),
        play.started(),
        i === 3 ? play.failed() : play.completed(i),
      ];
      for (const e of all) events.push({ seq: ++seq, scope: "task", event: at(e) });
    }
    const fed: number[] = [];
    activity.onEvents((items) => fed.push(items.length));
    activity.observe(events);
    expect(fed).toEqual([16]); // the live feed got every event in one batch

    const res = await api.inject({ method: "GET", url: "/api/v1/cluster/series" });
    expect(res.statusCode).toBe(200);
    const { step_seconds, points } = res.json();
    expect(step_seconds).toBe(5);
    expect(points).toHaveLength(12); // a minute of 5 s steps, oldest first
    expect(points.at(-1).at).toBe("2026-02-16T16:10:00.000Z");
    const step = points.find((p: { at: string }) => p.at === "2026-02-16T16:09:30.000Z");
    expect(step).toMatchObject({ submitted: 4, scheduling_p50_ms: 100, scheduling_p95_ms: 100 });
    const ended = points.reduce(
      (n: number, p: { completed: number; failed: number }) => n + p.completed + p.failed,
      0,
    );
    expect(ended).toBe(4);
    expect(points.reduce((n: number, p: { failed: number }) => n + p.failed, 0)).toBe(1);
    expect(points.some((p: { duration_p50_ms: number | null }) => p.duration_p50_ms === 2000)).toBe(true);
  });

  it("serves the dashboard's page and files, but nothing else from the charting package", async () => {
    const page = await api.inject({ method: "GET", url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.body).toContain('<script type="module" src="/ui/app.js"></script>');
    for (const file of [
      "/ui/app.js",
      "/ui/style.css",
      "/ui/vendor/uPlot.iife.min.js",
      "/ui/vendor/uPlot.min.css",
    ])
      expect((await api.inject({ method: "GET", url: file })).statusCode, file).toBe(200);
    expect((await api.inject({ method: "GET", url: "/ui/vendor/package.json" })).statusCode).not.toBe(200);
  });

  it("serves every module of the dashboard's script, and every module it imports is one of them", async () => {
    const dir = new URL("../ui/", import.meta.url);
    const modules = readdirSync(dir).filter((f) => f.endsWith(".js"));
    expect(modules).toContain("app.js");
    for (const file of modules) {
      const res = await api.inject({ method: "GET", url: `/ui/${file}` });
      expect(res.statusCode, file).toBe(200);
      // A module script runs only when served as JavaScript.
      expect(res.headers["content-type"], file).toMatch(/javascript/);
      expect(res.body, file).toBe(readFileSync(new URL(file, dir), "utf8"));
      for (const [, imported] of res.body.matchAll(/^import [^;]* from "\.\/([^"]+)";$/gm))
        expect(modules, `${file} imports ${imported}`).toContain(imported);
    }
  });
});
