import { decode } from "@openclaw/bus";
import { TaskEvent } from "@openclaw/protocol";
import { type NatsServer, startNatsServer } from "@openclaw/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { newRecord } from "../src/records.js";
import { type SchedulerEventKind, TaskEventPublisher } from "../src/task-events.js";
import { spec } from "./fixtures.js";
import { context } from "./harness.js";

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

it("a task's events go out in the order they were made, though nobody awaits them; settled() waits for all", async () => {
  const ctx = await context(server);
  try {
    const events = new TaskEventPublisher(ctx);
    const kinds: SchedulerEventKind[] = ["submitted", "scheduled", "started", "completed"];
    const tasks = Array.from({ length: 50 }, (_, i) =>
      newRecord(spec({ task_id: `ev-${i}` }), new Date().toISOString()),
    );
    // Interleaved across tasks, as the leader makes them; each record changes after its event is made.
    for (const [step, kind] of kinds.entries()) {
      for (const [i, rec] of tasks.entries()) {
        const extra = kind === "submitted" ? { payload: null } : kind === "completed" ? { result: i } : {};
        void events.publish(kind, { ...rec, attempt: step }, 100 * i + step + 1, extra);
      }
    }
    await events.settled();

    const { cluster } = ctx;
    const info = await cluster.jsm.streams.info(cluster.names.streams.events);
    expect(info.state.messages).toBe(tasks.length * kinds.length);
    const consumer = await cluster.js.consumers.get(cluster.names.streams.events);
    const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5000 });
    const seen = new Map<string, { kind: string; attempt: number }[]>();
    for await (const m of batch) {
      const d = decode(TaskEvent, m.data);
      if (!d.ok || !("task" in d.value))
        throw new Error(`unexpected event on ${m.subject}: ${d.ok ? "no task" : d.error}`);
      const list = seen.get(d.value.task_id) ?? [];
      list.push({ kind: d.value.kind, attempt: d.value.task.attempt });
      seen.set(d.value.task_id, list);
      if ([...seen.values()].reduce((n, l) => n + l.length, 0) === info.state.messages) break;
    }
    for (const rec of tasks) {
      // In the order made, each with the record as it was when its event was made.
      expect(seen.get(rec.spec.task_id)).toEqual(kinds.map((kind, attempt) => ({ kind, attempt })));
    }
  } finally {
    await ctx.close();
  }
});

it("an event that fails holds back the later events of its task until it is out (the outbox keeps the order)", async () => {
  const sent: string[] = [];
  let failNext = true;
  const names = { subjects: { taskEvent: (id: string, kind: string) => `evt.${id}.${kind}` } };
  const js = {
    // The first publish fails after a while (an ack that never came); the others succeed at once.
    async publish(subject: string) {
      if (failNext) {
        failNext = false;
        await new Promise((r) => setTimeout(r, 50));
        throw new Error("timeout");
      }
      sent.push(subject);
      return { seq: sent.length };
    },
  };
  const ctx = {
    cluster: { js, names },
    sender: { service: "test", instance: "t" },
    log: { warn() {} },
  } as unknown as ConstructorParameters<typeof TaskEventPublisher>[0];
  const events = new TaskEventPublisher(ctx);
  const a = newRecord(spec({ task_id: "held-back" }), new Date().toISOString());
  const b = newRecord(spec({ task_id: "other" }), new Date().toISOString());
  void events.publish("submitted", a, 1, { payload: null });
  void events.publish("scheduled", a, 2);
  void events.publish("submitted", b, 3, { payload: null });
  await events.settled();
  // Nothing of the failed task went out ahead of its failed event.
  expect(sent.filter((s) => s.includes("held-back"))).toEqual([]);
  await events.flush();
  expect(sent.filter((s) => s.includes("held-back"))).toEqual([
    "evt.held-back.submitted",
    "evt.held-back.scheduled",
  ]);
  expect(sent).toContain("evt.other.submitted");
});
