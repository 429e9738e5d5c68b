import {
  encodeIdempotencyEntry,
  idempotencyEntryKey,
  idempotencyEntryTask,
  isCasConflict,
  type KV,
  recordOwnsKey,
} from "@openclaw/bus";
import type { Inbound } from "./inbox.js";

/** Compare-and-set rounds lost in a row before a claim gives up (its message is delivered again). */
const CLAIM_ROUNDS = 3;

/**
 * Claims idempotency key `key` for task `taskId` in the `scheduler` bucket: creates its entry if
 * absent. If the entry names another task, that task keeps the key while its record exists and
 * carries it; an entry naming a task without such a record (never written, or removed) is stale
 * and is taken over by compare-and-set. Resolves with the task the key belongs to.
 */
export async function claimKey(
  kv: { scheduler: KV; tasks: KV },
  key: string,
  taskId: string,
): Promise<string> {
  const name = idempotencyEntryKey(key);
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    try {
      await kv.scheduler.create(name, encodeIdempotencyEntry(taskId));
      return taskId;
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
    const entry = await kv.scheduler.get(name);
    if (entry?.operation !== "PUT") continue; // deleted meanwhile: create it again
    const owner = idempotencyEntryTask(entry.value);
    if (owner === taskId) return taskId;
    if (owner !== undefined && (await recordOwnsKey(kv.tasks, owner, key))) return owner;
    try {
      await kv.scheduler.update(name, encodeIdempotencyEntry(taskId), entry.revision);
      return taskId;
    } catch (err) {
      if (!isCasConflict(err)) throw err;
    }
  }
  throw new Error(`idempotency key of task '${taskId}' kept changing while it was claimed`);
}

export interface KeyVerdicts {
  /** Submissions whose key belongs to another task: each with that task; nothing is made for them. */
  duplicates: Map<Inbound, string>;
  /** Submissions whose key could not be claimed (the bucket failed): delivered again. */
  failed: Map<Inbound, unknown>;
}

/**
 * Settles the keys of a batch's submissions before any of them is held or placed: per key, in
 * inbox order, the first claims it and every later one with another task id is a duplicate of
 * the key's task. Different keys are claimed concurrently. A submission of a task the leader holds
 * already (a repeat of a live task) claims nothing: the repeat of its id is a no-op anyway.
 */
export async function claimBatchKeys(
  kv: { scheduler: KV; tasks: KV },
  inbounds: readonly Inbound[],
  held: (taskId: string) => boolean,
): Promise<KeyVerdicts> {
  const byKey = new Map<string, { inbound: Inbound; taskId: string }[]>();
  for (const inbound of inbounds) {
    if (!inbound.ok || inbound.kind !== "submit") continue;
    const key = inbound.value.task.idempotency_key;
    if (key === null || held(inbound.taskId)) continue;
    const group = byKey.get(key);
    const entry = { inbound, taskId: inbound.taskId };
    if (group) group.push(entry);
    else byKey.set(key, [entry]);
  }
  const verdicts: KeyVerdicts = { duplicates: new Map(), failed: new Map() };
  await Promise.all(
    [...byKey].map(async ([key, group]) => {
      let owner: string | undefined;
      for (const { inbound, taskId } of group) {
        if (owner === undefined) {
          try {
            owner = await claimKey(kv, key, taskId);
          } catch (err) {
            verdicts.failed.set(inbound, err);
            continue;
          }
        }
        if (owner !== taskId) verdicts.duplicates.set(inbound, owner);
      }
    }),
  );
  return verdicts;
}
