import { describe, expect, it } from "vitest";
import {
  envelope,
  fieldIssues,
  jsonDepth,
  MAX_JSON_DEPTH,
  MAX_METADATA_BYTES,
  TaskReport,
  TaskSubmission,
  TaskSubmit,
} from "../src/index.js";

/** `{"a":{"a":...}}`, `levels` objects deep: built without recursion. */
function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = i % 2 === 0 ? { a: v } : [v];
  return v;
}

describe("JSON nesting depth", () => {
  it("counts objects and arrays, not scalars", () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth(null)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: [] }], c: "x" })).toBe(4);
    expect(jsonDepth(nested(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
  });

  // Reproduction: payloads 2,000-10,000 deep wedged worker slots and looped in the scheduler's
  // inbox. The check itself must not overflow the stack on them, and stops early.
  it("stops past the limit without recursing, even 100,000 levels deep", () => {
    expect(jsonDepth(nested(100_000))).toBe(MAX_JSON_DEPTH + 1);
    expect(jsonDepth(nested(10), 3)).toBe(4);
  });
});

describe("where task JSON enters", () => {
  it("refuses a submission whose payload or metadata nests too deep, naming the field", () => {
    expect(TaskSubmission.safeParse({ type: "echo", payload: nested(MAX_JSON_DEPTH) }).success).toBe(true);
    const deep = TaskSubmission.safeParse({ type: "echo", payload: nested(5000) });
    expect(deep.success).toBe(false);
    if (!deep.success)
      expect(fieldIssues(deep.error)).toEqual([
        {
          path: "payload",
          message: `nests deeper than ${MAX_JSON_DEPTH} levels of objects and arrays; the limit is ${MAX_JSON_DEPTH}`,
        },
      ]);
    const meta = TaskSubmission.safeParse({ type: "echo", metadata: { m: nested(5000) } });
    expect(!meta.success && fieldIssues(meta.error)[0]?.path).toBe("metadata");
  });

  it("limits metadata to MAX_METADATA_BYTES of JSON", () => {
    const big = { text: "x".repeat(MAX_METADATA_BYTES) };
    const r = TaskSubmission.safeParse({ type: "echo", metadata: big });
    expect(!r.success && fieldIssues(r.error)[0]).toEqual({
      path: "metadata",
      message: `is ${MAX_METADATA_BYTES + 11} bytes of JSON; the limit is ${MAX_METADATA_BYTES}`,
    });
    expect(TaskSubmission.safeParse({ type: "echo", metadata: { text: "x".repeat(1000) } }).success).toBe(
      true,
    );
  });

  it("refuses a scheduler inbox submission or a result report that nests too deep", () => {
    const sender = { service: "test", instance: "t" };
    const spec = {
      task_id: "t-1",
      task_type: "echo",
      name: "echo",
      description: "",
      required_skills: ["echo"],
      optional_skills: [],
      payload: nested(10_000),
      priority: "normal",
      timeout_ms: 1000,
      retry: { max_attempts: 1, backoff: "fixed", initial_backoff_ms: 0, max_backoff_ms: 0, jitter: 0 },
      constraints: { labels: {}, zone: null, prefer_zone: null, node: null },
      affinity_key: null,
      idempotency_key: null,
      strategy: null,
      metadata: {},
      user_id: null,
      checkpoint: false,
    };
    const submit = { ...envelope(sender), task: spec, submitted_at: new Date().toISOString() };
    const bad = TaskSubmit.safeParse(submit);
    expect(!bad.success && fieldIssues(bad.error)[0]?.path).toBe("task.payload");
    expect(TaskSubmit.safeParse({ ...submit, task: { ...spec, payload: { ok: 1 } } }).success).toBe(true);
    const report = {
      ...envelope(sender),
      kind: "succeeded",
      task_id: "t-1",
      attempt: 1,
      node_id: "n-1",
      result: nested(3000),
      duration_ms: 1,
    };
    const r = TaskReport.safeParse(report);
    expect(!r.success && fieldIssues(r.error)[0]?.path).toBe("result");
    expect(TaskReport.safeParse({ ...report, result: [1] }).success).toBe(true);
  });
});
