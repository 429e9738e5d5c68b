import { describe, expect, it } from "vitest";
import { resolveSubmission, type SubmissionDefaults, TaskSubmission } from "../src/index.js";

const defaults: SubmissionDefaults = {
  timeout_ms: 600_000,
  max_payload_bytes: 1024,
  retry: {
    max_attempts: 3,
    backoff: "exponential",
    initial_backoff_ms: 1000,
    max_backoff_ms: 300_000,
    jitter: 0.2,
  },
};
const resolve = (input: unknown) => resolveSubmission(TaskSubmission.parse(input), defaults);

describe("resolving a submission", () => {
  it("fills defaults, builds the skill list and derives the id from an idempotency key", () => {
    const a = resolve({ type: "echo", required_skills: ["pdf", "echo"], idempotency_key: "k1" });
    const b = resolve({ type: "echo", idempotency_key: "k1" });
    expect(a.ok && a.spec).toMatchObject({
      task_type: "echo",
      required_skills: ["echo", "pdf"],
      timeout_ms: 600_000,
      priority: "normal",
    });
    expect(a.ok && b.ok && a.spec.task_id === b.spec.task_id).toBe(true);
    expect(resolve({ type: "echo", constraints: { require_gpu: true, labels: "tier=fast" } })).toMatchObject({
      ok: true,
      spec: { constraints: { labels: { gpu: "true", tier: "fast" } } },
    });
  });

  it("refuses what the scheduler could not store, naming the caller's field, instead of acknowledging it", () => {
    expect(resolve({ type: "echo", timeout: "8d" })).toMatchObject({ ok: false, field: "timeout" });
    expect(resolve({ type: "echo", retry: { initial_backoff: "2d" } })).toMatchObject({
      ok: false,
      field: "retry.initial_backoff",
    });
    expect(resolve({ type: "echo", constraints: { labels: `k=${"v".repeat(200)}` } })).toMatchObject({
      ok: false,
      field: "constraints.labels",
    });
    expect(resolve({ type: "echo", payload: "x".repeat(2000) })).toMatchObject({
      ok: false,
      field: "payload",
    });
  });

  it("keeps a long default name within bounds", () => {
    const skills = Array.from({ length: 16 }, (_, i) => `skill-with-a-long-name-${i}`);
    const r = resolve({ required_skills: skills });
    expect(r.ok && r.spec.name.length).toBe(200);
  });
});
