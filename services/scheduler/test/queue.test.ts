import { describe, expect, it } from "vitest";
import { DelayQueue, PendingQueue, placementClass } from "../src/queue.js";
import { spec } from "./fixtures.js";

const all = () => true;

function drain(q: PendingQueue, now: number, placeable: (k: string) => boolean = all): string[] {
  const out: string[] = [];
  for (let pick = q.next(now, placeable); pick; pick = q.next(now, placeable)) {
    out.push(pick.taskId);
    q.remove(pick.taskId);
  }
  return out;
}

describe("pending queue", () => {
  it("serves priorities in order and first come first within one", () => {
    const q = new PendingQueue(0);
    const low = spec({ priority: "low" });
    const n1 = spec();
    const crit = spec({ priority: "critical" });
    const n2 = spec();
    const high = spec({ priority: "high" });
    for (const s of [low, n1, crit, n2, high]) q.add(s, 0);
    expect(drain(q, 0)).toEqual([crit.task_id, high.task_id, n1.task_id, n2.task_id, low.task_id]);
  });

  it("keeps first-come order in one long class while tasks are taken from the front and cancelled from the middle", () => {
    const q = new PendingQueue(0);
    const ids = Array.from({ length: 3000 }, (_, i) => {
      const s = spec({ task_id: `q-${i}` });
      q.add(s, i);
      return s.task_id;
    });
    // Taken from the front past the point where the FIFO compacts itself, and a few cancelled.
    const taken: string[] = [];
    for (let i = 0; i < 1500; i++) {
      const pick = q.next(0, all);
      if (!pick) break;
      taken.push(pick.taskId);
      expect(q.remove(pick.taskId)).toBe(true);
    }
    expect(taken).toEqual(ids.slice(0, 1500));
    expect(q.remove("q-2000")).toBe(true);
    expect(q.remove("q-2999")).toBe(true);
    expect(q.remove("q-10")).toBe(false);
    expect(drain(q, 0)).toEqual(ids.slice(1500).filter((id) => id !== "q-2000" && id !== "q-2999"));
    expect(q.size).toBe(0);
  });

  it("puts a task whose attempt was lost ahead of its priority level, across classes too, but not above a higher priority", () => {
    const q = new PendingQueue(60_000);
    const n1 = spec();
    const other = spec({ required_skills: ["gpu"] });
    const crit = spec({ priority: "critical" });
    for (const s of [n1, other, crit]) q.add(s, 0);
    const lost = spec();
    q.add(lost, 0, true);
    expect(drain(q, 0)).toEqual([crit.task_id, lost.task_id, n1.task_id, other.task_id]);
  });

  it("ages waiting tasks upwards, so low priority never starves", () => {
    const q = new PendingQueue(1000);
    const old = spec({ priority: "low" });
    q.add(old, 0);
    const fresh = spec({ priority: "high" });
    q.add(fresh, 5000);
    // After 3 s the low task ranks as high, and it came first.
    expect(q.next(3000, all)?.taskId).toBe(old.task_id);
    expect(q.next(1000, all)?.taskId).toBe(fresh.task_id);
  });

  it("skips a whole class nobody can place, without looking at its tasks", () => {
    const q = new PendingQueue(0);
    const gpu = spec({ required_skills: ["render"], task_type: "render", priority: "critical" });
    const echo = spec();
    q.add(gpu, 0);
    q.add(echo, 0);
    const blocked = placementClass(gpu);
    expect(drain(q, 0, (k) => k !== blocked)).toEqual([echo.task_id]);
    expect(q.size).toBe(1);
    expect(q.tasksOf(blocked)).toEqual([gpu.task_id]);
  });

  it("puts different affinity keys in different classes", () => {
    expect(placementClass(spec({ affinity_key: "a" }))).not.toBe(placementClass(spec({ affinity_key: "b" })));
    expect(
      placementClass(
        spec({ constraints: { labels: { b: "1", a: "2" }, zone: null, prefer_zone: null, node: null } }),
      ),
    ).toBe(
      placementClass(
        spec({ constraints: { labels: { a: "2", b: "1" }, zone: null, prefer_zone: null, node: null } }),
      ),
    );
  });

  it("removes and counts by priority", () => {
    const q = new PendingQueue(0);
    const a = spec({ priority: "low" });
    q.add(a, 0);
    q.add(a, 0); // twice is once
    q.add(spec({ priority: "high" }), 0);
    expect(q.byPriority()).toEqual({ critical: 0, high: 1, normal: 0, low: 1 });
    expect(q.remove(a.task_id)).toBe(true);
    expect(q.remove(a.task_id)).toBe(false);
    expect(q.size).toBe(1);
  });

  it("stays fast with 100,000 tasks in many classes", () => {
    const q = new PendingQueue(30_000);
    for (let i = 0; i < 100_000; i++) {
      q.add(
        spec({
          required_skills: [`s${i % 50}`],
          task_type: `s${i % 50}`,
          priority: (["low", "normal", "high"] as const)[i % 3],
        }),
        i,
      );
    }
    const started = performance.now();
    for (let i = 0; i < 1000; i++) {
      const pick = q.next(200_000, all);
      if (pick) q.remove(pick.taskId);
    }
    // Not a timing assertion of the product: a guard against an O(n) pick sneaking in (1000 picks over 100k tasks).
    expect(performance.now() - started).toBeLessThan(5000);
    expect(q.size).toBe(99_000);
  });
});

describe("delay queue", () => {
  it("takes 100,000 retries (a failover's rebuild) without quadratic work", () => {
    const d = new DelayQueue();
    for (let i = 0; i < 100_000; i++) d.add(`t${i}`, (i * 7919) % 100_000);
    expect(d.size).toBe(100_000);
    expect(d.due(10)).toHaveLength(11);
    expect(d.has("t0")).toBe(false);
    expect(d.has("t1")).toBe(true);
  });

  it("releases tasks when due, earliest first", () => {
    const d = new DelayQueue();
    d.add("b", 200);
    d.add("a", 100);
    d.add("c", 300);
    expect(d.nextAt()).toBe(100);
    expect(d.due(250)).toEqual(["a", "b"]);
    d.add("c", 50); // rescheduled
    expect(d.due(60)).toEqual(["c"]);
    expect(d.size).toBe(0);
  });
});
