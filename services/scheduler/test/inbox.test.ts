import { encode, type JsMsg } from "@openclaw/bus";
import { envelope, names } from "@openclaw/protocol";
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
});
