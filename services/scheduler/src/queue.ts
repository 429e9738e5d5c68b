import { PRIORITIES, type Priority, type TaskSpec } from "@openclaw/protocol";

/** What a pending task needs from a node; tasks of one class are placed alike. */
export function placementClass(spec: TaskSpec): string {
  const c = spec.constraints;
  const labels = Object.entries(c.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return [
    [...spec.required_skills].sort().join("+"),
    labels,
    c.zone ?? "",
    c.node ?? "",
    // Affinity pins tasks to a node, so tasks with different keys must not block each other.
    spec.strategy === "hash" || spec.affinity_key ? `#${spec.affinity_key ?? ""}` : "",
  ].join("|");
}

export interface Queued {
  taskId: string;
  priority: Priority;
  /** Order of arrival, for FIFO within a priority. */
  seq: number;
  /** When it became pending (ms), for aging. */
  since: number;
}

const RANK: Record<Priority, number> = { critical: 0, high: 1, normal: 2, low: 3 };

/** A FIFO that removes from the front in O(1) (amortised). */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  get size(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  unshift(item: T): void {
    if (this.#head > 0) {
      this.#head -= 1;
      this.#items[this.#head] = item;
    } else this.#items.unshift(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    const item = this.#items[this.#head];
    if (item === undefined) return undefined;
    this.#head += 1;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  toArray(): T[] {
    return this.#items.slice(this.#head);
  }
  /** O(1) for the head (placement takes tasks from there), O(n) elsewhere (a cancel). */
  remove(pred: (t: T) => boolean): boolean {
    const head = this.#items[this.#head];
    if (head !== undefined && pred(head)) {
      this.shift();
      return true;
    }
    for (let i = this.#head + 1; i < this.#items.length; i++) {
      if (pred(this.#items[i] as T)) {
        this.#items.splice(i, 1);
        return true;
      }
    }
    return false;
  }
}

class ClassQueue {
  readonly levels = PRIORITIES.map(() => new Fifo<Queued>());
  /** Tasks ever added: tells whether the class got new tasks since a given moment. */
  adds = 0;
  get size(): number {
    return this.levels.reduce((n, f) => n + f.size, 0);
  }
}

/**
 * The pending tasks, grouped by placement class, FIFO per priority within each class. Picking
 * the next task looks only at the head of each (class, priority) queue: O(classes), whatever
 * the number of tasks. A task's effective priority rises one level per `agingMs` of waiting, so
 * low priority never starves.
 */
export class PendingQueue {
  readonly #classes = new Map<string, ClassQueue>();
  readonly #where = new Map<string, string>();
  readonly #agingMs: number;
  #seq = 0;
  /** Sequence numbers of tasks queued at the front: below every other, newest lowest. */
  #frontSeq = 0;

  constructor(agingMs: number) {
    this.#agingMs = agingMs;
  }

  get size(): number {
    return this.#where.size;
  }

  has(taskId: string): boolean {
    return this.#where.has(taskId);
  }

  /** Queues a task; `front` puts it ahead of its priority level (an attempt lost through no fault of its own resumes first). */
  add(spec: TaskSpec, since: number, front = false): void {
    if (this.#where.has(spec.task_id)) return;
    const key = placementClass(spec);
    let q = this.#classes.get(key);
    if (!q) {
      q = new ClassQueue();
      this.#classes.set(key, q);
    }
    q.adds += 1;
    const seq = front ? --this.#frontSeq : this.#seq++;
    const item = { taskId: spec.task_id, priority: spec.priority, seq, since };
    if (front) q.levels[RANK[spec.priority]]?.unshift(item);
    else q.levels[RANK[spec.priority]]?.push(item);
    this.#where.set(spec.task_id, key);
  }

  remove(taskId: string): boolean {
    const key = this.#where.get(taskId);
    if (key === undefined) return false;
    this.#where.delete(taskId);
    const q = this.#classes.get(key);
    if (!q) return false;
    for (const level of q.levels) if (level.remove((t) => t.taskId === taskId)) break;
    if (q.size === 0) this.#classes.delete(key);
    return true;
  }

  /** Classes with pending tasks. */
  classes(): string[] {
    return [...this.#classes.keys()];
  }

  /** Task ids of a class, in the order they would be placed (for reasons and dry runs). */
  /** How many tasks were ever added to the class (0 for a class with none now). */
  addsOf(key: string): number {
    return this.#classes.get(key)?.adds ?? 0;
  }

  tasksOf(key: string): string[] {
    const q = this.#classes.get(key);
    if (!q) return [];
    const out: string[] = [];
    for (const level of q.levels) for (const t of level.toArray()) out.push(t.taskId);
    return out;
  }

  effectiveRank(item: Queued, now: number): number {
    const aged = this.#agingMs > 0 ? Math.max(0, Math.floor((now - item.since) / this.#agingMs)) : 0;
    return Math.max(0, RANK[item.priority] - aged);
  }

  /**
   * The task to place next among the classes `placeable` allows: best effective priority first,
   * then first come. Does not remove it.
   */
  next(
    now: number,
    placeable: (classKey: string) => boolean,
  ): { taskId: string; classKey: string } | undefined {
    let best: { item: Queued; rank: number; classKey: string } | undefined;
    for (const [classKey, q] of this.#classes) {
      if (!placeable(classKey)) continue;
      for (const level of q.levels) {
        const item = level.peek();
        if (!item) continue;
        const rank = this.effectiveRank(item, now);
        if (!best || rank < best.rank || (rank === best.rank && item.seq < best.item.seq)) {
          best = { item, rank, classKey };
        }
      }
    }
    return best && { taskId: best.item.taskId, classKey: best.classKey };
  }

  /** Counts by priority (base priority, not aged). */
  byPriority(): Record<Priority, number> {
    const out = { critical: 0, high: 0, normal: 0, low: 0 } as Record<Priority, number>;
    for (const q of this.#classes.values()) {
      for (const [i, p] of PRIORITIES.entries()) out[p] += q.levels[i]?.size ?? 0;
    }
    return out;
  }
}

/** Tasks waiting for a retry's backoff to pass, released when due. */
export class DelayQueue {
  #items: { taskId: string; at: number }[] = [];
  readonly #ids = new Set<string>();

  get size(): number {
    return this.#items.length;
  }

  add(taskId: string, at: number): void {
    this.remove(taskId);
    this.#ids.add(taskId);
    // Binary search for the first item due later, so equal times keep their arrival order.
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#items[mid]?.at ?? 0) <= at) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, { taskId, at });
  }

  remove(taskId: string): boolean {
    if (!this.#ids.delete(taskId)) return false;
    const i = this.#items.findIndex((x) => x.taskId === taskId);
    if (i >= 0) this.#items.splice(i, 1);
    return i >= 0;
  }

  has(taskId: string): boolean {
    return this.#ids.has(taskId);
  }

  /** Removes and returns the tasks due at `now`. */
  due(now: number): string[] {
    let n = 0;
    while (n < this.#items.length && (this.#items[n]?.at ?? Number.POSITIVE_INFINITY) <= now) n++;
    const due = this.#items.splice(0, n).map((x) => x.taskId);
    for (const id of due) this.#ids.delete(id);
    return due;
  }

  /** When the next task is due, if any. */
  nextAt(): number | undefined {
    return this.#items[0]?.at;
  }
}
