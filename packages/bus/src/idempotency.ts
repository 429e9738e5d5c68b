import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { TaskRecord, Token } from "@openclaw/protocol";
import { decode, encode } from "./codec.js";
import type { Cluster } from "./provision.js";

/**
 * Which task an idempotency key belongs to: the scheduler leader writes it into the `scheduler`
 * bucket (create-if-absent) before the task's record, and no second task is made for the key.
 */
export interface IdempotencyEntry {
  task_id: string;
  claimed_at: string;
}

/**
 * The `scheduler` bucket's key for an idempotency key: `idem.` + the key's SHA-256 in hex (a
 * key is any string up to 256 characters; a KV key is not).
 */
export function idempotencyEntryKey(key: string): string {
  return `idem.${createHash("sha256").update(key).digest("hex")}`;
}

export function encodeIdempotencyEntry(taskId: string, now = new Date()): Uint8Array {
  const entry: IdempotencyEntry = { task_id: taskId, claimed_at: now.toISOString() };
  return encode(entry);
}

/** The entry's task id, or undefined for bytes that are not an entry. */
export function idempotencyEntryTask(value: Uint8Array): string | undefined {
  try {
    const raw = JSON.parse(new TextDecoder().decode(value)) as { task_id?: unknown };
    return Token.safeParse(raw?.task_id).success ? (raw.task_id as string) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether task `taskId` owns idempotency key `key`: its record exists and carries the key. An
 * entry naming a task that does not (its record was never written, or was removed) is stale.
 */
export async function recordOwnsKey(tasks: KV, taskId: string, key: string): Promise<boolean> {
  const entry = await tasks.get(taskId);
  if (entry?.operation !== "PUT") return false;
  const d = decode(TaskRecord, entry.value);
  return d.ok && d.value.spec.idempotency_key === key;
}

/**
 * For a submitter: the task a submission with idempotency key `key` and task id `taskId` resolved
 * to, once the scheduler has taken it (`taskId` itself, or the task the key already belonged
 * to); undefined if that is not known within `timeoutMs` (no scheduler leader took it yet).
 */
export async function awaitIdempotentTask(
  cluster: Cluster,
  key: string,
  taskId: string,
  timeoutMs: number,
): Promise<string | undefined> {
  const name = idempotencyEntryKey(key);
  const deadline = Date.now() + timeoutMs;
  let pauseMs = 20;
  for (;;) {
    const entry = await cluster.kv.scheduler.get(name).catch(() => null);
    const owner = entry?.operation === "PUT" ? idempotencyEntryTask(entry.value) : undefined;
    if (owner === taskId) return taskId;
    if (owner !== undefined && (await recordOwnsKey(cluster.kv.tasks, owner, key).catch(() => false)))
      return owner;
    if (Date.now() >= deadline || cluster.nc.isClosed()) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(pauseMs, Math.max(1, deadline - Date.now()))));
    pauseMs = Math.min(pauseMs * 2, 250);
  }
}
