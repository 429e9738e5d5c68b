import { decode, encode, ensureDurable, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { type ConfigInput, ConfigSchema } from "@openclaw/config";
import { silentLogger } from "@openclaw/log";
import {
  type TaskDispatch as Dispatch,
  envelope,
  QueueStats,
  TaskDispatch,
  type TaskError,
  type TaskEvent,
  TaskEvent as TaskEventSchema,
  type TaskSpec,
  type TaskSubmit,
} from "@openclaw/protocol";
import { type NatsServer, nodeDescriptor, nodeRecord, uniquePrefix, waitFor } from "@openclaw/testing";
import { startScheduler } from "../src/index.js";

export async function context(
  server: NatsServer,
  config: ConfigInput = {},
  prefix = uniquePrefix(),
): Promise<ServiceContext> {
  const cfg = ConfigSchema.parse({
    ...config,
    cluster: {
      subject_prefix: prefix,
      election_timeout: "1500ms",
      lease_renew_interval: "300ms",
      ...(config.cluster ?? {}),
    },
    communication: { nats_url: server.url },
    scheduler: { interval: "100ms", ...(config.scheduler ?? {}) },
  });
  return startServiceContext({
    config: cfg,
    service: "test",
    instance: `t-${Math.random().toString(36).slice(2)}`,
    log: silentLogger(),
  });
}

export type Outcome = { result: unknown } | { error: TaskError };

export interface SimNode {
  id: string;
  /** Every dispatch it took, in order. */
  taken: Dispatch[];
  running: number;
  maxRunning: number;
  stop(): Promise<void>;
}

/** A fake worker: announces itself in the nodes bucket, takes its dispatches and reports outcomes. */
export async function simNode(
  ctx: ServiceContext,
  id: string,
  options: {
    capacity?: number;
    skills?: string[];
    labels?: Record<string, string>;
    zone?: string;
    run?: (d: Dispatch) => Promise<Outcome>;
    /** Take dispatches and never start them (a node that hung, or an order lost on the way). */
    silent?: boolean;
    /** Send each attempt's started report and outcome back to back, as a worker does for a skill that returns at once. */
    together?: boolean;
    /** Send only each attempt's outcome, as a worker does for an attempt shorter than worker.started_report_delay. */
    noStart?: boolean;
  } = {},
): Promise<SimNode> {
  const { cluster } = ctx;
  const { names } = cluster;
  const descriptor = nodeDescriptor(id, {
    max_concurrent_tasks: options.capacity ?? 2,
    skills: (options.skills ?? ["echo"]).map((name) => ({ name, version: null, description: "" })),
    labels: options.labels ?? {},
    zone: options.zone ?? null,
  });
  await cluster.kv.nodes.put(id, encode(nodeRecord(descriptor)));
  await ensureDurable(
    cluster.jsm,
    names.streams.dispatch,
    names.consumers.node(id),
    names.subjects.dispatch(id),
  );
  const consumer = await cluster.js.consumers.get(names.streams.dispatch, names.consumers.node(id));
  const messages = await consumer.consume({ max_messages: 100 });
  const sim: SimNode = {
    id,
    taken: [],
    running: 0,
    maxRunning: 0,
    stop: async () => {
      await messages.close();
    },
  };
  const run = options.run ?? (async (d: Dispatch) => ({ result: d.task.payload }));
  const report = (body: object) =>
    cluster.js.publish(names.subjects.schedReport((body as { task_id: string }).task_id), encode(body));
  void (async () => {
    for await (const m of messages) {
      m.ack();
      const d = decode(TaskDispatch, m.data);
      if (!d.ok) continue;
      const dispatch = d.value;
      sim.taken.push(dispatch);
      if (options.silent) continue;
      sim.running += 1;
      sim.maxRunning = Math.max(sim.maxRunning, sim.running);
      const base = {
        ...envelope({ service: "worker", instance: id }),
        task_id: dispatch.task.task_id,
        attempt: dispatch.attempt,
        node_id: id,
      };
      void (async () => {
        const start = options.noStart ? undefined : report({ ...base, kind: "started" });
        if (!options.together) await start;
        const outcome = await run(dispatch);
        sim.running -= 1;
        if ("result" in outcome)
          await report({
            ...base,
            id: `${base.id}s`,
            kind: "succeeded",
            result: outcome.result,
            duration_ms: 1,
          });
        else
          await report({ ...base, id: `${base.id}f`, kind: "failed", error: outcome.error, duration_ms: 1 });
      })();
    }
  })();
  return sim;
}

/** `msgID` other than the task id: a repeat the stream's duplicate window does not catch. */
export async function submit(ctx: ServiceContext, spec: TaskSpec, msgID = spec.task_id): Promise<void> {
  const msg: TaskSubmit = { ...envelope(ctx.sender), task: spec, submitted_at: new Date().toISOString() };
  await ctx.cluster.js.publish(ctx.cluster.names.subjects.schedSubmit, encode(msg), { msgID });
}

/** Every task event published, as they arrive. */
export function recordEvents(ctx: ServiceContext): TaskEvent[] {
  const events: TaskEvent[] = [];
  ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.taskEventsAll, {
    callback: (_err, msg) => {
      const d = decode(TaskEventSchema, msg.data);
      if (d.ok) events.push(d.value);
    },
  });
  return events;
}

/**
 * A leading scheduler on a context of its own, recording every task event, with `node` to add sim
 * nodes; everything it starts is pushed onto `cleanup` (the test file pops it after each test).
 */
export async function leadingScheduler(
  server: NatsServer,
  cleanup: (() => Promise<void>)[],
  config: ConfigInput = {},
  prefix?: string,
) {
  const ctx = await context(server, config, prefix);
  const events = recordEvents(ctx);
  const scheduler = await startScheduler(ctx);
  cleanup.push(async () => {
    await scheduler.stop();
    await ctx.close();
  });
  await waitFor(() => scheduler.isLeader(), { timeout: 5000 });
  const node = async (id: string, o: Parameters<typeof simNode>[2] = {}) => {
    const n = await simNode(ctx, id, o);
    cleanup.push(n.stop);
    return n;
  };
  return { ctx, events, scheduler, node };
}

/**
 * Waits until the leader has been through `n` more ticks: each places, then writes the queue
 * figures. For asserting that something did not happen, rather than sleeping.
 */
export async function ticks(ctx: ServiceContext, n: number): Promise<void> {
  const seen = new Set<string>();
  await waitFor(async () => {
    const e = await ctx.cluster.kv.scheduler.get("queue");
    const q = e ? decode(QueueStats, e.value) : undefined;
    if (q?.ok) seen.add(q.value.updated_at);
    return seen.size > n;
  });
}
