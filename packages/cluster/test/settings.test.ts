import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, encode, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { ConfigSchema, taskDefaults } from "@openclaw/config";
import { silentLogger } from "@openclaw/log";
import {
  type OcError,
  type QueueStats,
  type SchedulerSettings,
  TaskSubmit,
  TaskSubmitBatch,
} from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpenClawCluster } from "../src/index.js";

let server: NatsServer;
let ctx: ServiceContext;
const submitted: TaskSubmit[] = [];
/** Submission messages seen: one per single submission, one per batch. */
let messagesSeen = 0;

beforeAll(async () => {
  server = await startNatsServer();
  const config = ConfigSchema.parse({
    cluster: { subject_prefix: uniquePrefix() },
    communication: { nats_url: server.url },
  });
  ctx = await startServiceContext({ config, service: "scheduler", instance: "test", log: silentLogger() });
  ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.schedSubmit, {
    callback: (_e, m) => {
      messagesSeen += 1;
      const d = decode(TaskSubmit, m.data);
      if (d.ok) submitted.push(d.value);
    },
  });
  ctx.cluster.nc.subscribe(ctx.cluster.names.subjects.schedSubmitBatch, {
    callback: (_e, m) => {
      messagesSeen += 1;
      const b = decode(TaskSubmitBatch, m.data);
      if (!b.ok) return;
      for (const entry of b.value.submissions) {
        const d = TaskSubmit.safeParse(entry);
        if (d.success) submitted.push(d.data);
      }
    },
  });
  // What a scheduler leader publishes: the cluster allows 7 attempts and 2 pending tasks.
  const defaults = taskDefaults(ConfigSchema.parse({ tasks: { max_attempts: 7, default_timeout: "2m" } }));
  const settings: SchedulerSettings = { task_defaults: defaults, max_pending: 2, strategy: "least-loaded" };
  await ctx.cluster.kv.scheduler.put("settings", encode(settings));
});

afterAll(async () => {
  await OpenClawCluster.closeAll();
  await ctx?.close();
  await server?.stop();
});

const stats = (pending: number): QueueStats => ({
  leader: "s",
  pending,
  pending_by_priority: { critical: 0, high: 0, normal: pending, low: 0 },
  scheduled: 0,
  running: 0,
  updated_at: new Date().toISOString(),
});

describe("the SDK and the cluster's settings", () => {
  it("fills tasks with the cluster's defaults, and its own config file's retryPolicy over them", async () => {
    await ctx.cluster.kv.scheduler.put("queue", encode(stats(0)));
    const plain = new OpenClawCluster({ natsUrl: server.url, prefix: ctx.cluster.names.prefix });
    const a = await plain.submitTask({ type: "echo" });
    const file = join(tmpdir(), `seed-${Date.now()}.yaml`);
    writeFileSync(file, "retryPolicy:\n  maxAttempts: 4\n");
    const seeded = new OpenClawCluster({
      configPath: file,
      natsUrl: server.url,
      prefix: ctx.cluster.names.prefix,
    });
    const b = await seeded.submitTask({ type: "echo" });
    await waitFor(() => submitted.length >= 2);
    const spec = (id: string) => submitted.find((s) => s.task.task_id === id)?.task;
    expect(spec(a.id)).toMatchObject({ timeout_ms: 120_000, retry: { max_attempts: 7 } });
    expect(spec(b.id)).toMatchObject({ timeout_ms: 120_000, retry: { max_attempts: 4 } });
  });

  it("refuses a submission while the cluster's queue is full (OC-4029)", async () => {
    await ctx.cluster.kv.scheduler.put("queue", encode(stats(2)));
    const client = new OpenClawCluster({ natsUrl: server.url, prefix: ctx.cluster.names.prefix });
    const err = (await client.submitTask({ type: "echo" }).catch((e) => e)) as OcError;
    expect(err.code).toBe("OC-4029");
  });

  it("submitTasks sends a batch, in one message, or none of it when one task is invalid or the queue has no room", async () => {
    await ctx.cluster.kv.scheduler.put("queue", encode(stats(0)));
    const client = new OpenClawCluster({ natsUrl: server.url, prefix: ctx.cluster.names.prefix });
    const before = submitted.length;
    const messagesBefore = messagesSeen;
    const jobs = await client.submitTasks([
      { id: "bulk-a", type: "echo", payload: { n: 1 } },
      { id: "bulk-b", type: "echo", payload: { n: 2 } },
    ]);
    expect(jobs.map((j) => j.id)).toEqual(["bulk-a", "bulk-b"]);
    await waitFor(() => submitted.length >= before + 2);
    expect(submitted.slice(before).map((s) => s.task.task_id)).toEqual(["bulk-a", "bulk-b"]);
    expect(messagesSeen).toBe(messagesBefore + 1);

    // One bad task: nothing is sent, and the error names it.
    const bad = (await client
      .submitTasks([
        { id: "bulk-c", type: "echo" },
        { id: "bulk-d", type: "not a skill" },
      ])
      .catch((e) => e)) as OcError;
    expect(bad.code).toBe("OC-4000");
    expect(bad.field).toMatch(/^tasks\[1\]\./);
    expect(bad.message).toContain("task 1");

    // More than the queue has room for (max_pending 2): refused whole.
    const full = (await client
      .submitTasks([{ type: "echo" }, { type: "echo" }, { type: "echo" }])
      .catch((e) => e)) as OcError;
    expect(full.code).toBe("OC-4029");
    // A core round trip: anything published before it has arrived.
    await ctx.cluster.nc.flush();
    expect(submitted.length).toBe(before + 2);
  });
});
