import { createHash, randomInt } from "node:crypto";
import type { PlacementStrategy, TaskSpec } from "@openclaw/protocol";

/** The scheduler's view of a node. */
export interface NodeView {
  id: string;
  labels: Record<string, string>;
  zone: string | null;
  skills: ReadonlySet<string>;
  capacity: number;
  /** Attempts the scheduler has dispatched to it that have not ended. */
  inflight: number;
  /** Online, healthy and not leaving; otherwise why not. */
  unusable: string | null;
  /** Recent outcomes (EWMA), for the adaptive strategy. */
  successRate: number;
  latencyMs: number;
}

/**
 * A node, or why there is none; `busy` when nodes fit but every slot is taken (the task only
 * waits its turn), as opposed to no node being able to run it at all.
 */
export type Placement =
  | { node: NodeView; reason?: undefined; busy?: undefined }
  | { node?: undefined; reason: string; busy?: boolean };

function list(skills: string[]): string {
  return skills.length === 1 ? `skill ${skills[0]}` : `all of the skills ${skills.join(", ")}`;
}

function constraintText(spec: TaskSpec): string {
  const c = spec.constraints;
  const parts = Object.entries(c.labels).map(([k, v]) => `${k}=${v}`);
  if (c.zone) parts.push(`zone=${c.zone}`);
  if (c.node) parts.push(`node or role ${c.node}`);
  return parts.join(", ");
}

function matches(spec: TaskSpec, n: NodeView): boolean {
  const c = spec.constraints;
  for (const [k, v] of Object.entries(c.labels)) if (n.labels[k] !== v) return false;
  if (c.zone && n.zone !== c.zone) return false;
  if (c.node && n.id !== c.node && n.labels.role !== c.node) return false;
  return true;
}

/** Why none of the nodes with the skills can take the task: they are offline, draining, or their breaker is open. */
function whyNone(spec: TaskSpec, down: NodeView[]): string {
  if (down.length === 0) return `no online node has ${list(spec.required_skills)}`;
  if (down.every((n) => n.unusable === "offline"))
    return `the nodes with ${list(spec.required_skills)} are offline`;
  const shown = down
    .slice(0, 3)
    .map((n) => `${n.id}: ${n.unusable}`)
    .join("; ");
  const more = down.length > 3 ? `; and ${down.length - 3} more` : "";
  return `no node with ${list(spec.required_skills)} can take work (${shown}${more})`;
}

/** Nodes that could ever run the task (usable, every skill, every constraint), or why there are none. */
export function eligibleNodes(
  spec: TaskSpec,
  nodes: Iterable<NodeView>,
): { nodes: NodeView[]; reason?: string } {
  const withSkills: NodeView[] = [];
  const down: NodeView[] = [];
  for (const n of nodes) {
    if (!spec.required_skills.every((s) => n.skills.has(s))) continue;
    if (n.unusable) down.push(n);
    else withSkills.push(n);
  }
  if (withSkills.length === 0) return { nodes: [], reason: whyNone(spec, down) };
  const fit = withSkills.filter((n) => matches(spec, n));
  if (fit.length === 0) {
    // Say so when the nodes that match are there but cannot take work (draining, breaker open).
    const downFit = down.filter((n) => matches(spec, n));
    return {
      nodes: [],
      reason:
        downFit.length > 0
          ? whyNone(spec, downFit)
          : `no online node with ${list(spec.required_skills)} matches ${constraintText(spec)}`,
    };
  }
  return { nodes: fit };
}

/** Soft preferences: the preferred node, same zone, optional skills; nodes that lost this task last. Higher is better. */
function preference(spec: TaskSpec, n: NodeView, avoid: ReadonlySet<string>): number {
  let score = 0;
  if (avoid.has(n.id)) score -= 1000;
  if (spec.constraints.prefer_node === n.id) score += 100;
  if (spec.constraints.prefer_zone && n.zone === spec.constraints.prefer_zone) score += 10;
  for (const s of spec.optional_skills) if (n.skills.has(s)) score += 1;
  return score;
}

function load(n: NodeView): number {
  return n.inflight / n.capacity;
}

/** Rendezvous hashing: every caller agrees on a key's node while the set of nodes is the same. */
export function rendezvous(key: string, nodes: NodeView[]): NodeView | undefined {
  let best: { n: NodeView; h: bigint } | undefined;
  for (const n of nodes) {
    const h = createHash("sha256").update(`${key}\u0000${n.id}`).digest().readBigUInt64BE(0);
    if (!best || h > best.h) best = { n, h };
  }
  return best?.n;
}

export interface PlaceOptions {
  strategy: PlacementStrategy;
  /** Round-robin position per placement class. */
  cursors: Map<string, number>;
  classKey: string;
  /** Nodes to pass over when another fits (they lost an attempt of this task). */
  avoid?: ReadonlySet<string>;
}

/** Chooses a node for a task, or says why it has to wait. Never a node without a free slot. */
export function place(spec: TaskSpec, nodes: Iterable<NodeView>, o: PlaceOptions): Placement {
  const { nodes: eligible, reason } = eligibleNodes(spec, nodes);
  if (reason) return { reason };
  const strategy = spec.strategy ?? o.strategy;
  if (strategy === "hash" && spec.affinity_key) {
    // The key's node, while it lives; if it is full the task waits for it rather than moving.
    const home = rendezvous(spec.affinity_key, eligible) as NodeView;
    if (home.inflight >= home.capacity)
      return {
        reason: `the affinity node ${home.id} is full (${home.inflight}/${home.capacity})`,
        busy: true,
      };
    return { node: home };
  }
  const free = eligible.filter((n) => n.inflight < n.capacity);
  if (free.length === 0) {
    const slots = eligible.reduce((s, n) => s + n.capacity, 0);
    return {
      reason: `all ${eligible.length} nodes that can run it are full (${slots}/${slots} slots busy)`,
      busy: true,
    };
  }
  const avoid = o.avoid ?? new Set<string>();
  const best = Math.max(...free.map((n) => preference(spec, n, avoid)));
  const pool = free
    .filter((n) => preference(spec, n, avoid) === best)
    .sort((a, b) => a.id.localeCompare(b.id));
  switch (strategy) {
    case "round-robin": {
      const i = (o.cursors.get(o.classKey) ?? -1) + 1;
      o.cursors.set(o.classKey, i);
      return { node: pool[i % pool.length] as NodeView };
    }
    case "random":
      return { node: pool[randomInt(pool.length)] as NodeView };
    case "adaptive": {
      // Free capacity, weighted by recent success, discounted by recent latency against the pool's mean.
      const mean = pool.reduce((s, n) => s + n.latencyMs, 0) / pool.length || 1;
      const score = (n: NodeView) =>
        ((n.capacity - n.inflight) / n.capacity) * n.successRate * (mean / (mean + n.latencyMs));
      return { node: pool.reduce((a, b) => (score(b) > score(a) ? b : a)) };
    }
    default:
      return {
        node: pool.reduce((a, b) =>
          load(b) < load(a) || (load(b) === load(a) && b.inflight < a.inflight) ? b : a,
        ),
      };
  }
}
