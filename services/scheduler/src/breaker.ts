import { decode, encode, type KV } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import { type BreakerRecord, BreakerRecord as BreakerRecordSchema, type TaskError } from "@openclaw/protocol";

export interface BreakerSettings {
  /** Failed attempts in a row that open a breaker; 0 turns breakers off. */
  failureThreshold: number;
  recoveryTimeoutMs: number;
  halfOpenRequests: number;
}

interface State {
  record: BreakerRecord;
  /** Trial attempts dispatched while half-open that have not ended. */
  trials: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

function closed(nodeId: string, now: number): BreakerRecord {
  return {
    node_id: nodeId,
    state: "closed",
    failures: 0,
    opened_at: null,
    retry_at: null,
    trial_successes: 0,
    last_error: null,
    updated_at: iso(now),
  };
}

/**
 * Errors a worker reports that say its node is at fault, whatever the task: OC-6006 (it was sent a
 * skill it announced but no longer has) and OC-5000 (the worker itself failed around the skill).
 */
const NODE_FAULT_CODES: ReadonlySet<string> = new Set(["OC-6006", "OC-5000"]);

/**
 * Whether a failed attempt the worker reported counts against its node: its breaker and its
 * success rate for the adaptive strategy. The rule (docs/reliability.md, "A node's tasks keep
 * failing"): only what the node caused counts, never what the task's input can cause, so that
 * whoever may submit cannot take nodes out of service (hardening item 7: five tasks of the `shell`
 * skill with a command not on the allow-list put a node in `error` for 60 s).
 *
 * - Never: `retryable: false` (the skill says the input is at fault), and whatever the skill's own
 *   code decides with the input: OC-6001 thrown (a TypeError on a malformed payload is retryable
 *   by default), OC-6002 non-zero exit, OC-6003 bad output, OC-6007 result too large, OC-6004 a
 *   timeout the worker enforced (the submitter sets the timeout), OC-6008 a skill folder without a
 *   way to run (the skill's packaging, not the node: its other skills run). A skill that crashes its
 *   thread is reported as OC-6001 too: a payload can exhaust memory.
 * - Never: OC-6005 (cancelled on request) and OC-6009 a worker reports (it hands attempts back
 *   because it stops or drains, or because another attempt brought down the thread they shared).
 * - Counted: OC-6006 and OC-5000 when retryable. The scheduler also counts, without a report,
 *   attempts the node accepted and then dropped while alive (not started within
 *   `scheduler.dispatch_timeout`, no longer listed in its heartbeats, silent long past the
 *   timeout): see supervision.ts. A node that dies or restarts is not counted: the health monitor
 *   keeps work off it while it is down, and a restarted worker is a new process.
 *
 * This is BullMQ's and Nomad's model: a job's own failure is the job's, retried by its policy
 * (BullMQ's `UnrecoverableError`, Nomad's restart/reschedule policy), and never makes a worker or
 * client ineligible; only the node losing work makes it suspect.
 */
export function countsAgainstNode(error: TaskError): boolean {
  return error.retryable && NODE_FAULT_CODES.has(error.code);
}

/**
 * A circuit breaker per node (seed 000 `circuitBreaker`): closed → open after `failureThreshold`
 * failed attempts in a row; open → half-open once `recoveryTimeout` has passed, letting
 * `halfOpenRequests` trial attempts through at a time; half-open → closed when that many trials
 * succeeded, → open again on a failed trial. Pure bookkeeping: the leader persists the records
 * that changed (`takeChanged`) so a new leader and the coordinator see them.
 */
export class Breakers {
  readonly #s: BreakerSettings;
  readonly #nodes = new Map<string, State>();
  readonly #changed = new Set<string>();

  constructor(settings: BreakerSettings) {
    this.#s = settings;
  }

  get enabled(): boolean {
    return this.#s.failureThreshold > 0;
  }

  /** Takes the state a previous leader stored. */
  load(records: Iterable<BreakerRecord>): void {
    for (const record of records) this.#nodes.set(record.node_id, { record, trials: 0 });
  }

  get(nodeId: string): BreakerRecord | undefined {
    return this.#nodes.get(nodeId)?.record;
  }

  /** Why the node may not take a new attempt now, or null. Moves an open breaker to half-open when its time has come. */
  blocked(nodeId: string, now: number): string | null {
    const s = this.#nodes.get(nodeId);
    if (!this.enabled || !s || s.record.state === "closed") return null;
    if (s.record.state === "open") {
      if (now < Date.parse(s.record.retry_at ?? "")) {
        return `circuit breaker open after ${s.record.failures} failed attempts in a row; trial tasks from ${s.record.retry_at}`;
      }
      this.#set(nodeId, s, { ...s.record, state: "half_open", trial_successes: 0, updated_at: iso(now) });
    }
    const room = this.#s.halfOpenRequests - s.record.trial_successes;
    return s.trials < room ? null : `circuit breaker half-open: ${s.trials} trial tasks running`;
  }

  /** An attempt went to the node (counted as a trial while half-open). */
  dispatched(nodeId: string): void {
    const s = this.#nodes.get(nodeId);
    if (s?.record.state === "half_open") s.trials += 1;
  }

  /** An attempt on the node ended, whatever its outcome (called once per attempt). */
  released(nodeId: string): void {
    const s = this.#nodes.get(nodeId);
    if (s && s.trials > 0) s.trials -= 1;
  }

  succeeded(nodeId: string, now: number): void {
    const s = this.#nodes.get(nodeId);
    if (!s) return;
    const r = s.record;
    if (r.state === "half_open") {
      const successes = r.trial_successes + 1;
      if (successes >= this.#s.halfOpenRequests) this.#set(nodeId, s, closed(nodeId, now));
      else this.#set(nodeId, s, { ...r, trial_successes: successes, updated_at: iso(now) });
    } else if (r.failures > 0) {
      // The run of failures is broken. Not persisted: only state changes are.
      s.record = { ...r, failures: 0, last_error: null };
    }
  }

  failed(nodeId: string, error: string, now: number): void {
    if (!this.enabled) return;
    const s = this.#nodes.get(nodeId) ?? { record: closed(nodeId, now), trials: 0 };
    this.#nodes.set(nodeId, s);
    const r = s.record;
    const failures = r.failures + 1;
    const lastError = error.slice(0, 500);
    if (r.state === "half_open" || (r.state === "closed" && failures >= this.#s.failureThreshold)) {
      this.#set(nodeId, s, {
        ...r,
        state: "open",
        failures: r.state === "half_open" ? r.failures : failures,
        opened_at: iso(now),
        retry_at: iso(now + this.#s.recoveryTimeoutMs),
        trial_successes: 0,
        last_error: lastError,
        updated_at: iso(now),
      });
    } else if (r.state === "closed") {
      s.record = { ...r, failures, last_error: lastError };
    }
  }

  /** Node ids whose breaker changed state since the last call. */
  takeChanged(): BreakerRecord[] {
    const out: BreakerRecord[] = [];
    for (const id of this.#changed) {
      const r = this.#nodes.get(id)?.record;
      if (r) out.push(r);
    }
    this.#changed.clear();
    return out;
  }

  #set(nodeId: string, s: State, record: BreakerRecord): void {
    s.record = record;
    this.#changed.add(nodeId);
  }
}

/** Scheduler-bucket keys of the breaker records: `breaker.<node>`. */
const BREAKER_KEY = "breaker";

/** The breakers a previous leader stored. */
export async function loadBreakers(kv: KV): Promise<BreakerRecord[]> {
  const records: BreakerRecord[] = [];
  for await (const key of await kv.keys(`${BREAKER_KEY}.>`)) {
    const entry = await kv.get(key);
    const d = entry?.operation === "PUT" ? decode(BreakerRecordSchema, entry.value) : undefined;
    if (d?.ok) records.push(d.value);
  }
  return records;
}

/** Persists breakers that changed state, for a new leader and for the node's health in the API. */
export async function storeBreakers(kv: KV, breakers: Breakers, log: Logger): Promise<void> {
  for (const b of breakers.takeChanged()) {
    log.warn(
      { node_id: b.node_id, breaker: b.state, failures: b.failures, retry_at: b.retry_at },
      `circuit breaker ${b.state.replace("_", "-")}`,
    );
    await kv.put(`${BREAKER_KEY}.${b.node_id}`, encode(b));
  }
}
