import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  EMPTY_LOAD,
  envelope,
  type NodeEvent,
  type NodeHealthRecord,
  type NodeRecord,
  type SkillInfo,
} from "@openclaw/protocol";
import { nodeDescriptor, nodeRecord as shared } from "@openclaw/testing";

export const T0 = "2026-02-16T16:00:00.000Z";
const SENDER = { service: "test", instance: "t1" };

export interface NodeSpec {
  skills?: string[];
  max?: number;
  running?: number;
  state?: "active" | "left";
  labels?: Record<string, string>;
  lastHeartbeat?: string | null;
}

export function skill(name: string): SkillInfo {
  return { name, version: "1.0.0", description: `${name} skill` };
}

/** A valid `nodes` KV value. */
export function nodeRecord(id: string, spec: NodeSpec = {}): NodeRecord {
  const left = spec.state === "left";
  const node = nodeDescriptor(id, {
    max_concurrent_tasks: spec.max ?? 5,
    heartbeat_interval_ms: 5000,
    labels: spec.labels ?? {},
    skills: (spec.skills ?? []).map(skill),
    started_at: T0,
  });
  return shared(node, {
    state: spec.state ?? "active",
    registered_at: T0,
    last_heartbeat: spec.lastHeartbeat === undefined ? T0 : spec.lastHeartbeat,
    left_at: left ? T0 : null,
    load: { ...EMPTY_LOAD, running_tasks: spec.running ?? 0 },
  });
}

/** A valid `node_health` KV value. */
export function healthRecord(
  id: string,
  status: NodeHealthRecord["status"],
  reason: string = status,
): NodeHealthRecord {
  return {
    node_id: id,
    session: `s-${id}`,
    status,
    reason,
    since: T0,
    last_seen: T0,
    missed_heartbeats: status === "online" ? 0 : 3,
    consecutive_heartbeats: status === "online" ? 2 : 0,
    checked_at: T0,
  };
}

export function leftEvent(id: string, reason = "SIGTERM"): NodeEvent {
  return { ...envelope(SENDER), node_id: id, kind: "left", reason };
}

export function offlineEvent(id: string, reason = "no heartbeat for 90s"): NodeEvent {
  return { ...envelope(SENDER), node_id: id, kind: "offline", reason, last_seen: T0 };
}

export function joinedEvent(id: string, spec: NodeSpec = {}): NodeEvent {
  return {
    ...envelope(SENDER),
    node_id: id,
    kind: "joined",
    node: nodeRecord(id, spec).node,
    registered_at: T0,
  };
}

/** A temp dir for SQLite files; `cleanup()` removes it. */
export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "oc-coord-"));
  return {
    dir,
    file: (name) => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
