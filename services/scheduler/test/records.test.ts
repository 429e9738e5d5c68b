import { describe, expect, it } from "vitest";
import {
  attemptsUsed,
  cancelled,
  dispatched,
  failed,
  newRecord,
  retried,
  snapshot,
  started,
  succeeded,
} from "../src/records.js";
import { spec } from "./fixtures.js";

const T0 = "2026-01-01T00:00:00.000Z";
const err = (retryable = true, code = "OC-6001") => ({ code, message: "boom", retryable });

describe("task records", () => {
  it("walk pending → scheduled → running → completed, keeping each attempt", () => {
    let r = newRecord(spec({ payload: { x: 1 } }), T0);
    r = dispatched(r, "n1", 1000);
    expect(r).toMatchObject({ status: "scheduled", attempt: 1, assigned_node: "n1" });
    r = started(r, 2000);
    r = succeeded(r, { ok: true }, 3000);
    expect(r).toMatchObject({ status: "completed", result: { ok: true }, progress: { percent: 100 } });
    expect(r.attempts).toEqual([expect.objectContaining({ attempt: 1, node_id: "n1", status: "completed" })]);
  });

  it("retry with backoff until the attempts are used up, then fail for good", () => {
    let r = dispatched(newRecord(spec(), T0), "n1", 0);
    const first = failed(r, err(), 10_000, () => 0.5);
    expect(first.record.status).toBe("pending");
    expect(first.retryAt).toBe(11_000);
    r = dispatched(first.record, "n2", 11_000);
    const second = failed(r, err(), 20_000, () => 0.5);
    expect(second.retryAt).toBe(22_000);
    r = dispatched(second.record, "n1", 22_000);
    const third = failed(r, err(), 30_000);
    expect(third.retryAt).toBeUndefined();
    expect(third.record.status).toBe("failed");
    expect(third.record.attempts.map((a) => a.error?.message)).toEqual(["boom", "boom", "boom"]);
  });

  it("does not retry a non-retryable error, and ends in timeout when the last attempt timed out", () => {
    const r = dispatched(newRecord(spec(), T0), "n1", 0);
    expect(failed(r, err(false), 1).record.status).toBe("failed");
    const one = dispatched(newRecord(spec({ retry: { ...spec().retry, max_attempts: 1 } }), T0), "n1", 0);
    expect(failed(one, err(true, "OC-6004"), 1).record.status).toBe("timeout");
  });

  it("a manual retry gives a fresh budget", () => {
    let r = dispatched(newRecord(spec({ retry: { ...spec().retry, max_attempts: 1 } }), T0), "n1", 0);
    r = failed(r, err(), 1).record;
    r = retried(r);
    expect(attemptsUsed(r)).toBe(0);
    r = dispatched(r, "n1", 2);
    expect(r.attempt).toBe(2);
    expect(failed(r, err(), 3).record.status).toBe("failed");
  });

  it("cancelling a running task marks the attempt and asks the node to stop", () => {
    const r = started(dispatched(newRecord(spec(), T0), "n1", 0), 1);
    const c = cancelled(r, "user asked", 2);
    expect(c).toMatchObject({ status: "cancelled", cancel_requested: true, error: { code: "OC-6005" } });
    expect(c.attempts[0]?.status).toBe("cancelled");
    expect(cancelled(newRecord(spec(), T0), "", 1).cancel_requested).toBe(false);
  });

  it("snapshots carry neither payload nor result", () => {
    const s = snapshot(
      succeeded(dispatched(newRecord(spec({ payload: { big: 1 } }), T0), "n1", 0), { out: 1 }, 1),
    );
    expect(s.spec).not.toHaveProperty("payload");
    expect(s).not.toHaveProperty("result");
  });
});
