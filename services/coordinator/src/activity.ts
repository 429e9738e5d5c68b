import type { TaskEvent } from "@openclaw/protocol";
import type { StreamEvent } from "./db/node-store.js";

/** One task event as the dashboard's live feed shows it. */
export interface FeedItem {
  seq: number;
  task_id: string;
  kind: string;
  at: string;
  status: string | null;
  skill: string | null;
  node_id: string | null;
  attempt: number | null;
  percent: number | null;
}

/** One step of the activity series: what happened in it. */
export interface SeriesPoint {
  /** The step's start, ISO time. */
  at: string;
  submitted: number;
  completed: number;
  failed: number;
  /** Submission to first placement, of tasks placed in the step (ms); null when none. */
  scheduling_p50_ms: number | null;
  scheduling_p95_ms: number | null;
  /** Start to end of tasks that ended in the step (ms). */
  duration_p50_ms: number | null;
}

interface Bucket {
  start: number;
  submitted: number;
  completed: number;
  failed: number;
  scheduling: number[];
  durations: number[];
}

/** Samples kept per step for its percentiles: enough for a chart, bounded under any load. */
const SAMPLES = 500;

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

function feedItem(seq: number, e: TaskEvent): FeedItem {
  const t = "task" in e ? e.task : undefined;
  return {
    seq,
    task_id: e.task_id,
    kind: e.kind,
    at: e.ts,
    status: t?.status ?? null,
    skill: t?.spec.required_skills[0] ?? null,
    node_id: t?.assigned_node ?? ("node_id" in e ? e.node_id : null),
    attempt: t?.attempt ?? ("attempt" in e ? e.attempt : null),
    percent: e.kind === "progress" ? e.percent : null,
  };
}

/**
 * What the cluster has been doing lately, for the dashboard: throughput and latency in fixed
 * steps over the last minutes, and a live feed of task events. Fed by the events the coordinator
 * projects, so every coordinator has its own, from its start.
 */
export class Activity {
  readonly #stepMs: number;
  readonly #keep: number;
  readonly #buckets = new Map<number, Bucket>();
  readonly #listeners = new Set<(items: FeedItem[]) => void>();

  /** @param stepMs the series' step @param windowMs how far back it goes */
  constructor(stepMs = 5000, windowMs = 15 * 60_000) {
    this.#stepMs = stepMs;
    this.#keep = Math.ceil(windowMs / stepMs);
  }

  get stepMs(): number {
    return this.#stepMs;
  }

  #bucket(at: number): Bucket {
    const start = Math.floor(at / this.#stepMs) * this.#stepMs;
    let b = this.#buckets.get(start);
    if (!b) {
      b = { start, submitted: 0, completed: 0, failed: 0, scheduling: [], durations: [] };
      this.#buckets.set(start, b);
      // Steps older than the window are dropped as new ones begin.
      const oldest = start - this.#keep * this.#stepMs;
      for (const k of this.#buckets.keys()) if (k < oldest) this.#buckets.delete(k);
    }
    return b;
  }

  observe(events: readonly StreamEvent[]): void {
    const items: FeedItem[] = [];
    for (const s of events) {
      if (s.scope !== "task") continue;
      const e = s.event;
      items.push(feedItem(s.seq, e));
      if (!("task" in e)) continue;
      const t = e.task;
      const b = this.#bucket(Date.parse(e.ts));
      if (e.kind === "submitted") b.submitted += 1;
      else if (e.kind === "completed") b.completed += 1;
      else if (e.kind === "failed" || e.kind === "timeout") b.failed += 1;
      if (e.kind === "scheduled" && t.attempt === 1 && t.scheduled_at && b.scheduling.length < SAMPLES)
        b.scheduling.push(Date.parse(t.scheduled_at) - Date.parse(t.submitted_at));
      if (
        (e.kind === "completed" || e.kind === "failed") &&
        t.started_at &&
        t.completed_at &&
        b.durations.length < SAMPLES
      )
        b.durations.push(Date.parse(t.completed_at) - Date.parse(t.started_at));
    }
    if (items.length > 0) for (const l of this.#listeners) l(items);
  }

  /** Every step of the window up to `now`, oldest first, empty steps included. */
  series(now: number): SeriesPoint[] {
    const last = Math.floor(now / this.#stepMs) * this.#stepMs;
    const out: SeriesPoint[] = [];
    for (let start = last - (this.#keep - 1) * this.#stepMs; start <= last; start += this.#stepMs) {
      const b = this.#buckets.get(start);
      out.push({
        at: new Date(start).toISOString(),
        submitted: b?.submitted ?? 0,
        completed: b?.completed ?? 0,
        failed: b?.failed ?? 0,
        scheduling_p50_ms: b ? percentile(b.scheduling, 50) : null,
        scheduling_p95_ms: b ? percentile(b.scheduling, 95) : null,
        duration_p50_ms: b ? percentile(b.durations, 50) : null,
      });
    }
    return out;
  }

  /** Calls `listener` with each batch of task events as it is stored; returns the unsubscribe. */
  onEvents(listener: (items: FeedItem[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
