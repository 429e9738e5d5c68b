import { describe, expect, it } from "vitest";
import { fields, NO_COLORS, oneLine, table } from "../src/render.js";

// Reproduction: a command skill's multi-line stderr (carried in OC-6002's message) was printed in
// full for the task and again for each attempt, and broke the attempts table's columns.
const STDERR =
  'OC-6002 exited with status 3:\nTraceback (most recent call last):\n  File "x.py"\nValueError: bad';

describe("rendering a multi-line skill error", () => {
  it("oneLine keeps the first non-empty line and marks what it left out", () => {
    expect(oneLine("\n  first line  \nsecond")).toBe("first line…");
    expect(oneLine("short")).toBe("short");
    expect(oneLine("x".repeat(10), 5)).toBe("xxxx…");
  });

  it("a table row stays one line, and every column stays aligned", () => {
    const out = table(
      ["ATTEMPT", "ERROR", "NODE"],
      [
        ["1", STDERR, "w1"],
        ["2", "short", "w2"],
      ],
      NO_COLORS,
    ).split("\n");
    expect(out).toHaveLength(3);
    const col = (line: string) => line.search(/ w[12]$/);
    expect(col(out[1] as string)).toBe(col(out[2] as string));
    expect(out[1]).toContain("OC-6002 exited with status 3:…");
  });

  it("a field of several lines keeps to its column", () => {
    expect(
      fields(
        [
          ["error", "a\nb"],
          ["status", "failed"],
        ],
        NO_COLORS,
      ).split("\n"),
    ).toEqual(["error   a", "        b", "status  failed"]);
  });
});
