import { mkdtempSync, readdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Decoded, decode, encode, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { type ConfigInput, ConfigSchema } from "@openclaw/config";
import { createLogger } from "@openclaw/log";
import {
  envelope,
  NodeHeartbeat,
  type TaskAbort,
  type TaskDispatch,
  TaskEvent,
  type TaskRecord,
  TaskReport,
  type TaskSpec,
} from "@openclaw/protocol";
import { taskRecord as sharedRecord, taskSpec as sharedSpec, waitFor } from "@openclaw/testing";
import { startWorker, type Worker } from "../src/worker.js";

export const FIXTURE_SKILLS = new URL("./fixtures/skills", import.meta.url).pathname;
export const EXAMPLE_SKILLS = new URL("../../../examples/skills", import.meta.url).pathname;

/** A fresh skills folder holding links to every skill folder of `sources`. */
export function skillsDir(...sources: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "oc-worker-skills-"));
  for (const src of sources) {
    for (const name of readdirSync(src)) symlinkSync(join(src, name), join(dir, name));
  }
  return dir;
}

let seq = 0;
/** A task id unique within the test process. */
export function taskId(what = "t"): string {
  seq += 1;
  return `${what}-${process.pid}-${seq}`;
}

export function taskSpec(
  id: string,
  skill: string,
  payload: unknown,
  overrides: Partial<TaskSpec> = {},
): TaskSpec {
  return sharedSpec({
    task_id: id,
    task_type: skill,
    name: id,
    required_skills: [skill],
    payload,
    timeout_ms: 30_000,
    retry: { max_attempts: 3, backoff: "fixed", initial_backoff_ms: 0, max_backoff_ms: 0, jitter: 0 },
    ...overrides,
  });
}

/** The record the scheduler would have written for attempt 1 dispatched to `nodeId`. */
export function taskRecord(spec: TaskSpec, nodeId: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  const now = new Date().toISOString();
  return sharedRecord(spec, {
    status: "scheduled",
    attempt: 1,
    assigned_node: nodeId,
    submitted_at: now,
    scheduled_at: now,
    ...overrides,
  });
}

type Line = Record<string, unknown>;

/**
 * Plays the scheduler against one worker: writes task records, dispatches attempts, cancels,
 * and collects every report, task event and heartbeat of the cluster.
 */
export class SchedulerDouble {
  readonly reports: TaskReport[] = [];
  readonly events: TaskEvent[] = [];
  readonly heartbeats: NodeHeartbeat[] = [];

  private constructor(readonly ctx: ServiceContext) {}

  static async start(ctx: ServiceContext): Promise<SchedulerDouble> {
    const s = new SchedulerDouble(ctx);
    const { nc, names } = ctx.cluster;
    const p = names.prefix;
    const collect =
      <T>(list: T[], parse: (data: Uint8Array) => Decoded<T>) =>
      (_err: unknown, msg: { data: Uint8Array }) => {
        const d = parse(msg.data);
        if (d.ok) list.push(d.value);
      };
    nc.subscribe(`${p}.sched.report.>`, { callback: collect(s.reports, (d) => decode(TaskReport, d)) });
    nc.subscribe(`${p}.evt.task.>`, { callback: collect(s.events, (d) => decode(TaskEvent, d)) });
    nc.subscribe(`${p}.node.*.heartbeat`, {
      callback: collect(s.heartbeats, (d) => decode(NodeHeartbeat, d)),
    });
    await nc.flush();
    return s;
  }

  /** Writes the record of attempt `attempt` (or `recordAttempt`) and dispatches attempt `attempt`. */
  async dispatch(
    nodeId: string,
    spec: TaskSpec,
    options: { attempt?: number; record?: Partial<TaskRecord> } = {},
  ): Promise<void> {
    const attempt = options.attempt ?? 1;
    const { kv, js, names } = this.ctx.cluster;
    await kv.tasks.put(spec.task_id, encode(taskRecord(spec, nodeId, { attempt, ...options.record })));
    const d: TaskDispatch = { ...envelope(this.ctx.sender), task: spec, attempt };
    await js.publish(names.subjects.dispatch(nodeId), encode(d));
  }

  async cancel(nodeId: string, id: string, attempt: number, reason = "asked by a test"): Promise<void> {
    const msg: TaskAbort = { ...envelope(this.ctx.sender), task_id: id, attempt, reason };
    this.ctx.cluster.nc.publish(this.ctx.cluster.names.subjects.nodeCommand(nodeId, "cancel"), encode(msg));
    await this.ctx.cluster.nc.flush();
  }

  of(id: string): TaskReport[] {
    return this.reports.filter((r) => r.task_id === id);
  }

  /** The report of `kind` for the task (and attempt), once it has come. */
  report<K extends TaskReport["kind"]>(
    id: string,
    kind: K,
    attempt = 1,
    timeout = 15_000,
  ): Promise<Extract<TaskReport, { kind: K }>> {
    return waitFor(
      () =>
        this.reports.find((r): r is Extract<TaskReport, { kind: K }> => {
          return r.task_id === id && r.kind === kind && r.attempt === attempt;
        }),
      { timeout, message: `no ${kind} report for ${id} attempt ${attempt}` },
    );
  }

  /** The final report (succeeded or failed) of an attempt. */
  outcome(id: string, attempt = 1, timeout = 15_000) {
    return waitFor(
      () =>
        this.reports.find(
          (r): r is Extract<TaskReport, { kind: "succeeded" | "failed" }> =>
            r.task_id === id && r.attempt === attempt && r.kind !== "started",
        ),
      { timeout, message: `no outcome for ${id} attempt ${attempt}` },
    );
  }
}

/** A worker on its own service context, logging into `lines`. */
export async function startTestWorker(
  natsUrl: string,
  prefix: string,
  worker: NonNullable<ConfigInput["worker"]>,
  extra: Omit<ConfigInput, "worker" | "cluster" | "communication"> = {},
): Promise<{ ctx: ServiceContext; worker: Worker; lines: Line[] }> {
  const config = ConfigSchema.parse({
    ...extra,
    cluster: { subject_prefix: prefix },
    communication: { nats_url: natsUrl },
    // Every start reported, whatever an attempt's length (tests that need the delay set it).
    worker: {
      heartbeat_interval: "200ms",
      skills_poll_interval: "200ms",
      started_report_delay: 0,
      ...worker,
    },
  });
  const lines: Line[] = [];
  const log = createLogger({
    service: "worker",
    instance: String(worker.node_id),
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  });
  const ctx = await startServiceContext({ config, service: "worker", instance: String(worker.node_id), log });
  return { ctx, worker: await startWorker(ctx), lines };
}

/** A service context playing the scheduler. */
export async function schedulerContext(natsUrl: string, prefix: string): Promise<ServiceContext> {
  const config = ConfigSchema.parse({
    cluster: { subject_prefix: prefix },
    communication: { nats_url: natsUrl },
  });
  const log = createLogger({ service: "scheduler", instance: "test", level: "silent" });
  return startServiceContext({ config, service: "scheduler", instance: "test", log });
}
