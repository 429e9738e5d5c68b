import { DEAD_LETTER_HEADERS, encode, MAX_DELIVER } from "@openclaw/bus";
import { envelope, type TaskSubmit } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, waitFor } from "@openclaw/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spec } from "./fixtures.js";
import { leadingScheduler, submit, ticks } from "./harness.js";

let server: NatsServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()?.();
});
afterAll(async () => {
  await server?.stop();
});

/** `{"a":{"a":...1...}}`, `levels` deep, as text: JSON.stringify itself overflows on such a value. */
function deepJson(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
}

describe("the scheduler's dead letters", () => {
  // Reproduction: a valid submission whose payload nests 10,000 deep made the leader's encode throw
  // on every delivery; the inbox consumer had max_deliver -1 and no dead letter, so it was
  // delivered again forever (100 of them held the scheduler at 94% CPU).
  it("terminates a poison submission once and keeps it as a dead letter, while the good ones around it run", async () => {
    const { ctx, events, node } = await leadingScheduler(server, cleanup);
    const { cluster } = ctx;
    const { names } = cluster;
    await node("n1");
    const good = Array.from({ length: 6 }, () => spec());
    for (const t of good.slice(0, 3)) await submit(ctx, t);
    const poison = spec();
    const body: TaskSubmit = {
      ...envelope(ctx.sender),
      task: { ...poison, payload: "@@deep@@" },
      submitted_at: new Date().toISOString(),
    };
    const raw = new TextEncoder().encode(
      new TextDecoder().decode(encode(body)).replace('"@@deep@@"', deepJson(10_000)),
    );
    await cluster.js.publish(names.subjects.schedSubmit, raw, { msgID: poison.task_id });
    for (const t of good.slice(3)) await submit(ctx, t);

    for (const t of good) {
      await waitFor(() => events.some((e) => e.task_id === t.task_id && e.kind === "completed"), {
        timeout: 15_000,
        message: `task ${t.task_id} never completed`,
      });
    }
    const dead = await waitFor(
      async () => {
        const info = await cluster.jsm.streams.info(names.streams.deadLetters);
        return info.state.messages > 0 ? info : undefined;
      },
      { timeout: 10_000, message: "no dead letter" },
    );
    // The inbox is empty (a terminated message leaves a work queue), and stays so.
    await waitFor(async () => (await cluster.jsm.streams.info(names.streams.sched)).state.messages === 0, {
      timeout: 10_000,
      message: "the poison message is still in the inbox",
    });
    await ticks(ctx, 3);
    const consumer = await cluster.jsm.consumers.info(names.streams.sched, names.consumers.scheduler);
    expect(consumer.config.max_deliver).toBe(MAX_DELIVER);
    expect(consumer.num_redelivered).toBe(0);
    expect(consumer.num_ack_pending).toBe(0);
    expect((await cluster.jsm.streams.info(names.streams.deadLetters)).state.messages).toBe(1);

    const letter = await cluster.jsm.streams.getMessage(names.streams.deadLetters, {
      seq: dead.state.first_seq,
    });
    expect(letter?.subject).toBe(names.subjects.deadLetter("scheduler"));
    expect(letter?.header.get(DEAD_LETTER_HEADERS.subject)).toBe(names.subjects.schedSubmit);
    expect(letter?.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(
      /^invalid: task\.payload: nests deeper than 64/,
    );
    expect(letter?.data).toEqual(raw);
    expect(events.some((e) => e.task_id === poison.task_id)).toBe(false);
  });
});
