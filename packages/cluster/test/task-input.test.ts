import { OcError } from "@openclaw/protocol";
import { describe, expect, it } from "vitest";
import { toSubmission } from "../src/task-input.js";

function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

describe("the SDK's task input", () => {
  // Reproduction (hardening items 3-5): a payload or metadata nested 10,000 deep threw a RangeError
  // from JSON.stringify here (or went on to wedge a worker slot or loop in the scheduler's inbox).
  it("refuses a payload or metadata nested deeper than 64 levels with OC-4000 naming the field", () => {
    for (const [field, task] of [
      ["payload", { type: "echo", payload: nested(10_000) }],
      ["payload", { type: "echo", payload: nested(65) }],
      ["metadata", { type: "echo", metadata: { m: nested(10_000) } }],
    ] as const) {
      let caught: unknown;
      try {
        toSubmission(task, {});
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(OcError);
      expect(caught).toMatchObject({ code: "OC-4000", field });
      expect((caught as Error).message).toContain("nests deeper than 64 levels");
    }
    expect(toSubmission({ type: "echo", payload: nested(64), metadata: { m: 1 } }, {})).toMatchObject({
      payload: nested(64),
      metadata: { m: 1 },
    });
  });

  it("refuses metadata over 64 KiB of JSON", () => {
    expect(() => toSubmission({ type: "echo", metadata: { text: "x".repeat(70_000) } }, {})).toThrow(
      expect.objectContaining({ code: "OC-4000", field: "metadata" }),
    );
  });
});
