import { describe, expect, it } from "vitest";
import { Duration, DurationOrZero, formatDuration, parseDuration } from "../src/index.js";

describe("durations", () => {
  it.each([
    ["500ms", 500],
    ["5s", 5000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["7d", 604_800_000],
    [2.0005, 2001],
    ["1.5s", 1500],
    ["90", 90_000],
    [" 2s ", 2000],
    [30, 30_000],
    [0.25, 250],
  ])("parses %j as %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(["abc", "5 minutes", "-1s", "1w", "", "ms"])("refuses %j", (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it("refuses zero and says a duration is expected otherwise", () => {
    expect(Duration.safeParse("0s").error?.issues[0]?.message).toContain("greater than zero");
    expect(Duration.safeParse("soon").error?.issues[0]?.message).toContain("500ms, 5s, 1m");
  });

  it("DurationOrZero takes zero (none), and refuses what Duration refuses otherwise", () => {
    expect(DurationOrZero.parse("0ms")).toBe(0);
    expect(DurationOrZero.parse(0)).toBe(0);
    expect(DurationOrZero.parse("50ms")).toBe(50);
    expect(DurationOrZero.safeParse("-1s").success).toBe(false);
    expect(DurationOrZero.safeParse("soon").error?.issues[0]?.message).toContain("500ms, 5s, 1m");
  });

  it("formats back to the accepted syntax", () => {
    expect(formatDuration(90_000)).toBe("90s");
    expect(formatDuration(120_000)).toBe("2m");
    expect(formatDuration(250)).toBe("250ms");
    expect(parseDuration(formatDuration(7_200_000))).toBe(7_200_000);
  });
});
