import { awaitIdempotentTask, decode, encode, payloadLimit } from "@openclaw/bus";
import {
  envelope,
  isOcError,
  MAX_SUBMIT_BATCH,
  NodeHealthRecord,
  NodeRecord,
  OcError,
  QueueStats,
  resolveSubmission,
  SchedulerSettings,
  type Sender,
  type TaskSubmit,
  type TaskSubmitBatch,
} from "@openclaw/protocol";
import { type Connection, connect } from "./connection.js";
import { Job, PendingResult } from "./job.js";
import { type ClusterOptions, effectiveDefaults, type ResolvedOptions, resolveOptions } from "./options.js";
import { type TaskInput, toSubmission } from "./task-input.js";

export interface NodeStatus {
  id: string;
  online: boolean;
  skills: string[];
  runningTasks: number;
  capacity: number;
  zone: string | null;
  labels: Record<string, string>;
}

export interface ClusterStatus {
  /** Nodes that are up (registered, not left, not offline). */
  activeNodes: number;
  totalNodes: number;
  /** Tasks dispatched or running. */
  activeTasks: number;
  /** Tasks waiting to be placed. */
  queueDepth: number;
  pendingByPriority: Record<string, number>;
  /** The scheduler instance that leads, if one does. */
  scheduler: string | null;
  nodes: NodeStatus[];
}

const open = new Set<OpenClawCluster>();

/** Submissions whose stream acks are awaited together by `submitTasks`. */
const SUBMIT_WINDOW = 1000;

/** How long a submission with an idempotency key waits for the scheduler to say whose the key is. */
const KEY_WAIT_MS = 30_000;

/**
 * Submissions as stored messages: `TaskSubmitBatch` messages of at most `MAX_SUBMIT_BATCH`
 * entries and about `maxBytes` / 2; a submission larger than that goes alone, as a plain
 * `TaskSubmit` (a batch around it might pass the server's max_payload). Every message has its own
 * id, so a publish repeated after a lost acknowledgement is dropped by the stream.
 */
function submissionMessages(
  messages: readonly TaskSubmit[],
  maxBytes: number,
  subjects: { single: string; batch: string },
  sender: Sender,
): { subject: string; id: string; data: Uint8Array }[] {
  const out: { subject: string; id: string; data: Uint8Array }[] = [];
  let entries: TaskSubmit[] = [];
  let bytes = 0;
  const close = () => {
    if (entries.length === 1) {
      const only = entries[0] as TaskSubmit;
      out.push({ subject: subjects.single, id: only.task.task_id, data: encode(only) });
    } else if (entries.length > 1) {
      const batch: TaskSubmitBatch = { ...envelope(sender), submissions: entries };
      out.push({ subject: subjects.batch, id: `batch-${batch.id}`, data: encode(batch) });
    }
    entries = [];
    bytes = 0;
  };
  const budget = maxBytes / 2;
  for (const msg of messages) {
    // Measured by its JSON, as it goes on the wire.
    const data = encode(msg);
    if (data.length > budget) {
      out.push({ subject: subjects.single, id: msg.task.task_id, data });
      continue;
    }
    if (entries.length >= MAX_SUBMIT_BATCH || bytes + data.length > budget) close();
    entries.push(msg);
    bytes += data.length;
  }
  close();
  return out;
}

/**
 * The task a stored submission stands for: its own, or, with an idempotency key, the task the
 * scheduler found the key belongs to (the first submitted with it), once the scheduler has taken
 * the submission.
 */
async function keyedTask(conn: Connection, msg: TaskSubmit): Promise<string> {
  const { task_id: id, idempotency_key: key } = msg.task;
  if (key === null) return id;
  const owner = await awaitIdempotentTask(conn.cluster, key, id, KEY_WAIT_MS);
  if (owner !== undefined) return owner;
  throw new OcError(
    "OC-5004",
    `task ${id} is stored in the scheduler's inbox, but no scheduler took it within ${KEY_WAIT_MS / 1000} s to say which task its idempotency key belongs to; submitting it again with the same key is safe`,
  );
}

/**
 * A client of an OpenClaw cluster: submit tasks, wait for their
 * results, see the cluster's state. It talks to NATS directly, so it needs no HTTP API.
 *
 * ```ts
 * const cluster = new OpenClawCluster({ natsUrl: "nats://localhost:4222" });
 * const job = await cluster.submitTask({ type: "echo", payload: { hi: 1 } });
 * const { data } = await job.wait();
 * await cluster.close();
 * ```
 */
export class OpenClawCluster {
  readonly options: ResolvedOptions;
  #conn: Promise<Connection> | undefined;
  #settingsCache: { at: number; value: SchedulerSettings | undefined } | undefined;
  #queueCache: { at: number; pending: number } | undefined;

  constructor(options: ClusterOptions = {}) {
    this.options = resolveOptions(options);
    open.add(this);
  }

  /** Closes every cluster client this process opened (for scripts and tests). */
  static async closeAll(): Promise<void> {
    await Promise.all([...open].map((c) => c.close()));
  }

  /** Connects on first use; every method waits for it. */
  connection(): Promise<Connection> {
    this.#conn ??= connect(this.options);
    return this.#conn;
  }

  async close(): Promise<void> {
    open.delete(this);
    const conn = this.#conn;
    this.#conn = undefined;
    // A connection that never opened has nothing to close (its error went to whoever used it).
    if (conn) await (await conn.catch(() => undefined))?.close();
  }

  /** The cluster's task settings, as its scheduler published them (read again each minute). */
  async #settings(conn: Connection): Promise<SchedulerSettings | undefined> {
    if (this.#settingsCache && Date.now() - this.#settingsCache.at < 60_000) return this.#settingsCache.value;
    const entry = await conn.cluster.kv.scheduler.get("settings").catch(() => null);
    const d = entry?.operation === "PUT" ? decode(SchedulerSettings, entry.value) : undefined;
    this.#settingsCache = { at: Date.now(), value: d?.ok ? d.value : undefined };
    return this.#settingsCache.value;
  }

  /** Pending tasks by the scheduler's last count (read again each second, so bulk submits stay cheap). */
  async #pending(conn: Connection): Promise<number> {
    if (this.#queueCache && Date.now() - this.#queueCache.at < 1000) return this.#queueCache.pending;
    const entry = await conn.cluster.kv.scheduler.get("queue").catch(() => null);
    const d = entry ? decode(QueueStats, entry.value) : undefined;
    this.#queueCache = { at: Date.now(), pending: d?.ok ? d.value.pending : 0 };
    return this.#queueCache.pending;
  }

  async getStatus(): Promise<ClusterStatus> {
    const { cluster } = await this.connection();
    const health = new Map<string, NodeHealthRecord>();
    for await (const key of await cluster.kv.nodeHealth.keys()) {
      const e = await cluster.kv.nodeHealth.get(key);
      const d = e ? decode(NodeHealthRecord, e.value) : undefined;
      if (d?.ok) health.set(key, d.value);
    }
    const nodes: NodeStatus[] = [];
    for await (const key of await cluster.kv.nodes.keys()) {
      const e = await cluster.kv.nodes.get(key);
      const d = e?.operation === "PUT" ? decode(NodeRecord, e.value) : undefined;
      if (!d?.ok) continue;
      const r = d.value;
      const h = health.get(key);
      const offline = r.state === "left" || (h?.session === r.node.session && h.status === "offline");
      nodes.push({
        id: key,
        online: !offline,
        skills: r.node.skills.map((s) => s.name),
        runningTasks: r.load.running_tasks,
        capacity: r.node.max_concurrent_tasks,
        zone: r.node.zone,
        labels: r.node.labels,
      });
    }
    const q = await cluster.kv.scheduler.get("queue");
    const stats = q ? decode(QueueStats, q.value) : undefined;
    const s = stats?.ok ? stats.value : undefined;
    return {
      activeNodes: nodes.filter((n) => n.online).length,
      totalNodes: nodes.length,
      activeTasks: (s?.scheduled ?? 0) + (s?.running ?? 0),
      queueDepth: s?.pending ?? 0,
      pendingByPriority: s?.pending_by_priority ?? {},
      scheduler: s?.leader ?? null,
      nodes: nodes.sort((a, b) => a.id.localeCompare(b.id)),
    };
  }

  /**
   * Submits a task; resolves once it is durably stored, with its job (with an `idempotencyKey`:
   * once the scheduler took it, with the job of the task the key belongs to). Two forms:
   * `submitTask(task)` and `submitTask(targetNode, task)` (the node `TaskRouter.route` chose:
   * preferred, not required, so the task can still fail over). Results of other jobs
   * (`job.data`) in the payload are waited for and filled in first.
   */
  async submitTask(targetOrTask: string | null | TaskInput, maybeTask?: TaskInput): Promise<Job> {
    const target = typeof targetOrTask === "string" || targetOrTask === null ? targetOrTask : null;
    const task = (maybeTask ?? (typeof targetOrTask === "object" ? targetOrTask : undefined)) as
      | TaskInput
      | undefined;
    if (!task)
      throw new OcError(
        "OC-4000",
        "submitTask needs a task: submitTask(task) or submitTask(targetNode, task)",
      );
    const [job] = await this.#submit([task], target);
    return job as Job;
  }

  /**
   * Submits many tasks at once (BullMQ's `addBulk`): every task is checked before any is sent, so
   * one invalid task (OC-4000/OC-4002, `field` like `tasks[3].payload`) submits none. The messages go
   * out pipelined, and the call resolves once all are durably stored, with their jobs in order.
   * A retry of the same call submits nothing twice: give the tasks ids.
   */
  submitTasks(tasks: TaskInput[]): Promise<Job[]> {
    return this.#submit(tasks, null);
  }

  /** Checks one task and makes its submission message (OC-4000/OC-4002 naming the field). */
  async #message(
    conn: Connection,
    task: TaskInput,
    target: string | null,
    defaults: ReturnType<typeof effectiveDefaults>,
    limit: number,
  ): Promise<TaskSubmit> {
    const payload = await fillResults(task.payload);
    const submission = toSubmission({ ...task, payload }, { preferNode: target });
    if (!submission.strategy && this.options.strategy) submission.strategy = this.options.strategy;
    const resolved = resolveSubmission(submission, { ...defaults, max_payload_bytes: limit });
    if (!resolved.ok)
      throw new OcError(resolved.field === "payload" ? "OC-4002" : "OC-4000", resolved.message, {
        field: resolved.field,
      });
    return { ...envelope(conn.sender), task: resolved.spec, submitted_at: new Date().toISOString() };
  }

  async #submit(tasks: TaskInput[], target: string | null): Promise<Job[]> {
    const conn = await this.connection();
    const settings = await this.#settings(conn);
    const defaults = effectiveDefaults(this.options, settings?.task_defaults);
    // No larger than the server's max_payload allows, so an oversized payload gets OC-4002, not a NATS error.
    const limit = payloadLimit(conn.cluster.nc, defaults.max_payload_bytes);
    const messages: TaskSubmit[] = [];
    for (const [index, task] of tasks.entries()) {
      try {
        messages.push(await this.#message(conn, task, target, defaults, limit));
      } catch (err) {
        // In a batch, the error says which task.
        if (tasks.length === 1 || !isOcError(err)) throw err;
        throw new OcError(err.code, `task ${index}: ${err.message}`, {
          field: `tasks[${index}]${err.field ? `.${err.field}` : ""}`,
        });
      }
    }
    if (settings && (await this.#pending(conn)) + messages.length > settings.max_pending) {
      throw new OcError(
        "OC-4029",
        `the cluster's queue is full (${settings.max_pending} pending, scheduler.max_pending); try again later`,
      );
    }
    const { js, names } = conn.cluster;
    // Several submissions a message (one publish and one ack for up to MAX_SUBMIT_BATCH), the
    // messages pipelined in windows: the acks of one window are awaited together.
    const subjects = { single: names.subjects.schedSubmit, batch: names.subjects.schedSubmitBatch };
    const out = submissionMessages(messages, limit, subjects, conn.sender);
    const window = Math.max(1, Math.floor(SUBMIT_WINDOW / MAX_SUBMIT_BATCH));
    for (let i = 0; i < out.length; i += window) {
      await Promise.all(out.slice(i, i + window).map((o) => js.publish(o.subject, o.data, { msgID: o.id })));
    }
    if (this.#queueCache) this.#queueCache.pending += messages.length;
    const ids = await Promise.all(messages.map((msg) => keyedTask(conn, msg)));
    return messages.map((msg, i) => {
      const job = new Job(conn, ids[i] ?? msg.task.task_id);
      const onProgress = tasks[i]?.onProgress;
      if (onProgress) job.onProgress(onProgress);
      return job;
    });
  }

  /**
   * Map-reduce over documents with two skills: `mapSkill` gets `{ document }` for each, and
   * `reduceSkill` gets `{ inputs: [results of the maps that succeeded] }`. Resolves with the
   * reduce's result.
   */
  async mapReduce(
    documents: unknown[],
    mapSkill: string,
    reduceSkill: string,
    options: { reduceOn?: string } = {},
  ): Promise<unknown> {
    const maps = await Promise.all(
      documents.map((document) => this.submitTask({ type: mapSkill, payload: { document } })),
    );
    const settled = await Promise.allSettled(maps.map((j) => j.wait()));
    const inputs = settled.filter((r) => r.status === "fulfilled").map((r) => r.value.data);
    const reduce = await this.submitTask({
      type: reduceSkill,
      payload: { inputs },
      priority: "high",
      ...(options.reduceOn ? { requireNode: options.reduceOn } : {}),
    });
    return (await reduce.wait()).data;
  }
}

/** Replaces results-to-be (`job.data` before the job finished) with the results; a failed job's is null. */
async function fillResults(value: unknown): Promise<unknown> {
  if (value instanceof PendingResult) {
    try {
      return (await value.job.wait()).data;
    } catch {
      return null;
    }
  }
  if (Array.isArray(value)) return Promise.all(value.map(fillResults));
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await fillResults(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}
