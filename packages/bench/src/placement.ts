import type { TaskSpec } from "@openclaw/protocol";
import { type NodeView, PendingQueue, place } from "@openclaw/scheduler";
import { taskSpec } from "@openclaw/testing";
import { simSkills } from "./sim.js";
import { quantile } from "./table.js";

export interface PlacementBenchOptions {
  /** Node views placed among. */
  nodes: number;
  /** Tasks in the queue, kept at this size while deciding. */
  queued: number;
  /** Decisions timed. */
  decisions: number;
  /** Untimed decisions first, for the JIT. @default 500 */
  warmup?: number;
  /** As the simulated nodes: each node has `skillsPerNode` of `skillPool` skills. @default 100 */
  skillPool?: number;
  /** @default 3 */
  skillsPerNode?: number;
  /** Slots per node. @default 100 */
  capacity?: number;
}

export interface PlacementBenchResult {
  /** `place()` alone, µs. */
  placeP50Us: number;
  placeP99Us: number;
  /** A whole decision as the scheduler's placement round makes it (pick, views, place, dequeue), µs. */
  stepP50Us: number;
  stepP99Us: number;
  decisions: number;
}

function spec(id: string, skill: string): TaskSpec {
  return taskSpec({ task_id: id, task_type: skill, name: skill, required_skills: [skill] });
}

/**
 * The scheduler's own placement code (`PendingQueue`, `place` from @openclaw/scheduler) in this
 * process: `queued` tasks waiting (each needing one skill some node has, so one placement class
 * per skill), `nodes` node views, and `decisions` decisions made as a placement round makes them:
 * the next task by priority and age, fresh node views with the slots in flight, `place()`
 * (least-loaded), the task out of the queue and a slot taken. After each decision (untimed) a
 * new task is queued, so the queue stays at `queued`, and once half of all slots are taken the
 * oldest attempt ends, so nodes never fill up.
 */
export function placementBench(o: PlacementBenchOptions): PlacementBenchResult {
  const pool = o.skillPool ?? 100;
  const perNode = o.skillsPerNode ?? 3;
  const capacity = o.capacity ?? 100;
  const nodes: Omit<NodeView, "inflight">[] = Array.from({ length: o.nodes }, (_, i) => ({
    id: `sim-${i}`,
    labels: {},
    zone: null,
    skills: new Set(simSkills(i, pool, perNode)),
    capacity,
    unusable: null,
    successRate: 1,
    latencyMs: 0,
  }));
  const inflight = new Map<string, number>();
  // As NodeTable.views does for every decision: a fresh view of each node with its slots in flight,
  // built field by field (as there; a spread would make slower objects and time those instead).
  const views = (): NodeView[] =>
    nodes.map((n) => ({
      id: n.id,
      labels: n.labels,
      zone: n.zone,
      skills: n.skills,
      capacity: n.capacity,
      inflight: inflight.get(n.id) ?? 0,
      unusable: n.unusable,
      successRate: n.successRate,
      latencyMs: n.latencyMs,
    }));
  const queue = new PendingQueue(30_000);
  const specs = new Map<string, TaskSpec>();
  let next = 0;
  const enqueue = () => {
    // The first skill of node `next mod nodes`: a skill some node has, whatever the sizes.
    const s = spec(`t-${next}`, simSkills(next % o.nodes, pool, perNode)[0] as string);
    next += 1;
    specs.set(s.task_id, s);
    queue.add(s, Date.now());
  };
  for (let i = 0; i < o.queued; i++) enqueue();

  const cursors = new Map<string, number>();
  const placeUs: number[] = [];
  const stepUs: number[] = [];
  const warmup = o.warmup ?? 500;
  const placed: string[] = [];
  const window = Math.max(1, Math.floor((o.nodes * capacity) / 2));
  for (let d = 0; d < warmup + o.decisions; d++) {
    const t0 = performance.now();
    const pick = queue.next(Date.now(), () => true);
    if (!pick) throw new Error("the queue ran empty");
    const s = specs.get(pick.taskId) as TaskSpec;
    const vs = views();
    const t1 = performance.now();
    const p = place(s, vs, { strategy: "least-loaded", cursors, classKey: pick.classKey });
    const t2 = performance.now();
    if (!p.node) throw new Error(`no placement: ${p.reason}`);
    queue.remove(pick.taskId);
    specs.delete(pick.taskId);
    inflight.set(p.node.id, (inflight.get(p.node.id) ?? 0) + 1);
    const t3 = performance.now();
    // Attempts end too: the oldest frees its slot once half of all slots are taken (untimed).
    placed.push(p.node.id);
    if (placed.length > window) {
      const done = placed.shift() as string;
      inflight.set(done, (inflight.get(done) ?? 1) - 1);
    }
    if (d >= warmup) {
      placeUs.push((t2 - t1) * 1000);
      stepUs.push((t3 - t0) * 1000);
    }
    enqueue();
  }
  return {
    placeP50Us: quantile(placeUs, 0.5),
    placeP99Us: quantile(placeUs, 0.99),
    stepP50Us: quantile(stepUs, 0.5),
    stepP99Us: quantile(stepUs, 0.99),
    decisions: placeUs.length,
  };
}
