import { awaitIdempotentTask, type Cluster, decode, encode, publishDrain, readLeaders } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import {
  OcError,
  type Sender,
  type TaskCancel,
  TaskEvent,
  TaskRecord,
  type TaskRetry,
  type TaskStatus,
  type TaskSubmit,
} from "@openclaw/protocol";

/** The task an idempotency key belongs to, as the scheduler stored it. */
export interface KeyOwner {
  task_id: string;
  status: TaskStatus;
  submitted_at: string;
}

/** What the task API needs from NATS; `natsTaskBus` is the real one. */
export interface TaskBus {
  /** Puts a submission into the scheduler's inbox; resolves once JetStream has stored it. */
  submit(msg: TaskSubmit): Promise<void>;
  /** `msgId` lets JetStream drop a repeat of the same request (a double click). */
  cancel(msg: TaskCancel, msgId: string): Promise<void>;
  retry(msg: TaskRetry, msgId: string): Promise<void>;
  /** Drains (or undrains) a node through the registry; resolves once JetStream has stored it. */
  drain(nodeId: string, draining: boolean, reason: string): Promise<void>;
  /**
   * Follows a task's events as they are published (core NATS, no history), validated; returns
   * the unsubscribe.
   */
  watch(taskId: string, onEvent: (event: TaskEvent) => void): () => void;
  /**
   * For a stored submission of task `taskId` with idempotency key `key`, once the scheduler
   * leader has taken it: `"this"` when the key is this task's, else the task the key belongs to;
   * undefined when no scheduler leads or none answered within `timeoutMs`.
   */
  keyOwner?(key: string, taskId: string, timeoutMs: number): Promise<KeyOwner | "this" | undefined>;
}

/** The bus, or a clear 503 when this coordinator runs without NATS. */
export function requireBus(bus: TaskBus | undefined): TaskBus {
  if (!bus) throw new OcError("OC-5003", "this coordinator has no NATS connection to reach the cluster");
  return bus;
}

/** The task bus over the cluster's NATS connection. */
export function natsTaskBus(cluster: Cluster, log: Logger, sender: Sender): TaskBus {
  const { js, nc, names } = cluster;

  async function put(subject: string, body: unknown, msgID: string, what: string): Promise<void> {
    // Outside the try: a body that cannot be encoded is bad input (OC-2002), not "try again".
    const data = encode(body);
    try {
      await js.publish(subject, data, { msgID });
    } catch (err) {
      throw new OcError(
        "OC-5003",
        `the scheduler's inbox did not confirm the ${what} (NATS: ${(err as Error).message}); nothing was accepted, try again`,
        { cause: err },
      );
    }
  }

  return {
    submit: (msg) => put(names.subjects.schedSubmit, msg, msg.task.task_id, "submission"),
    cancel: (msg, msgId) => put(names.subjects.schedCancel, msg, msgId, "cancel request"),
    retry: (msg, msgId) => put(names.subjects.schedRetry, msg, msgId, "retry request"),
    drain: async (nodeId, draining, reason) => {
      await publishDrain(cluster, sender, { nodeId, draining, reason });
    },
    async keyOwner(key, taskId, timeoutMs) {
      // With no scheduler leading, nobody answers: read what is known now, without waiting.
      const leads = await readLeaders(cluster, ["scheduler"]).then(
        (l) => l.leaders.scheduler !== null,
        () => true,
      );
      const owner = await awaitIdempotentTask(cluster, key, taskId, leads ? timeoutMs : 0);
      if (owner === undefined) return undefined;
      if (owner === taskId) return "this";
      const entry = await cluster.kv.tasks.get(owner).catch(() => null);
      const d = entry?.operation === "PUT" ? decode(TaskRecord, entry.value) : undefined;
      return d?.ok
        ? { task_id: owner, status: d.value.status, submitted_at: d.value.submitted_at }
        : undefined;
    },
    watch(taskId, onEvent) {
      const sub = nc.subscribe(names.subjects.taskEventsOf(taskId), {
        callback: (err, msg) => {
          if (err) return;
          const decoded = decode(TaskEvent, msg.data);
          if (!decoded.ok || decoded.value.task_id !== taskId) {
            log.debug({ subject: msg.subject, error_code: "OC-2002" }, "invalid live task event ignored");
            return;
          }
          onEvent(decoded.value);
        },
      });
      return () => {
        try {
          if (!sub.isClosed()) sub.unsubscribe();
        } catch {
          // The connection is closed already, and the subscription with it.
        }
      };
    },
  };
}
