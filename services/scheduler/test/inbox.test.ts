import { encode, type JsMsg } from "@openclaw/bus";
import { envelope, names } from "@openclaw/protocol";
import { taskSpec } from "@openclaw/testing";
import { describe, expect, it } from "vitest";
import { parseInbound } from "../src/inbox.js";

const n = names("oc");

function msg(subject: string, body: unknown): JsMsg {
  return {
    subject,
    data: encode(body),
    seq: 1,
    info: { deliveryCount: 1 },
    ack() {},
    nak() {},
    term() {},
  } as unknown as JsMsg;
}

const started = (taskId: string) => ({
  ...envelope({ service: "worker", instance: "w1" }),
  kind: "started",
  task_id: taskId,
  attempt: 1,
  node_id: "w1",
});

describe("the scheduler's inbox", () => {
  // Reproduction: a report published on task A's subject whose body names task B was applied to B.
  it("drops a report whose body names another task than its subject", () => {
    const [forged] = parseInbound(n, msg(n.subjects.schedReport("task-a"), started("task-b")));
    expect(forged).toMatchObject({
      ok: false,
      error: "report for task 'task-b' published on oc.sched.report.task-a",
    });
    const [good] = parseInbound(n, msg(n.subjects.schedReport("task-a"), started("task-a")));
    expect(good).toMatchObject({ ok: true, kind: "report", taskId: "task-a" });
  });

  // Reproduction (hardening item 4): a submission nested 10,000 deep passed validation and made
  // the leader's encode throw on every delivery. Now it is invalid at once; in a bulk submission
  // only its entry is, and giving it up (term) counts it as done, so the batch is still acked.
  it("refuses a submission nested too deep, alone or as one entry of a batch", () => {
    const sender = { service: "test", instance: "t" };
    const submit = (payload: unknown) => ({
      ...envelope(sender),
      task: taskSpec({ payload }),
      submitted_at: new Date().toISOString(),
    });
    // The deep payload as text: JSON.stringify itself overflows on it.
    const raw = (body: unknown) =>
      new TextEncoder().encode(
        new TextDecoder()
          .decode(encode(body))
          .replace('"@@deep@@"', `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`),
      );
    const one = msg(n.subjects.schedSubmit, {});
    (one as { data: Uint8Array }).data = raw(submit("@@deep@@"));
    const [alone] = parseInbound(n, one);
    expect(alone).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^task\.payload: nests deeper than 64/),
    });

    const calls: string[] = [];
    const batch = msg(n.subjects.schedSubmitBatch, {});
    Object.assign(batch, {
      data: raw({ ...envelope(sender), submissions: [submit(1), submit("@@deep@@"), submit(2)] }),
      ack: () => calls.push("ack"),
      nak: () => calls.push("nak"),
      term: () => calls.push("term"),
    });
    const entries = parseInbound(n, batch);
    expect(entries.map((e) => e.ok)).toEqual([true, false, true]);
    expect(entries[1]).toMatchObject({
      m: { entry: 1, deliveries: 1 },
      error: expect.stringMatching(/^submission 1 of the batch: task\.payload: nests deeper than 64/),
    });
    entries[1]?.m.term();
    entries[0]?.m.ack();
    expect(calls).toEqual([]);
    entries[2]?.m.ack();
    expect(calls).toEqual(["ack"]);
  });
});
