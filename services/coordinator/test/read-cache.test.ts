import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ReadCache } from "../src/http/read-cache.js";

describe("ReadCache", () => {
  it("keeps an answer while the model's version holds and it is young enough; checks it against the schema", () => {
    let version = 1;
    let clock = 1000;
    let computed = 0;
    const cache = new ReadCache(
      () => version,
      () => clock,
      { maxAgeMs: 500 },
    );
    const Answer = z.object({ n: z.number() });
    const get = () =>
      cache
        .json("k", Answer, () => {
          computed += 1;
          return { n: computed };
        })
        .toString();
    expect(get()).toBe('{"n":1}');
    expect(get()).toBe('{"n":1}');
    version = 2; // the read model changed
    expect(get()).toBe('{"n":2}');
    clock += 499;
    expect(get()).toBe('{"n":2}');
    clock += 1; // too old: clock-dependent answers are recomputed
    expect(get()).toBe('{"n":3}');
    clock -= 10_000; // a clock that went back does not keep an answer forever
    expect(get()).toBe('{"n":4}');
    expect(() => cache.json("bad", Answer, () => ({ n: "x" }) as never)).toThrow();
  });

  it("with reuseMs, serves a young answer though the model changed, then computes anew", () => {
    let version = 1;
    let clock = 0;
    let computed = 0;
    const cache = new ReadCache(
      () => version,
      () => clock,
    );
    const Answer = z.object({ n: z.number() });
    const get = () =>
      cache
        .json(
          "q",
          Answer,
          () => {
            computed += 1;
            return { n: computed };
          },
          300,
        )
        .toString();
    expect(get()).toBe('{"n":1}');
    version += 1;
    clock += 299;
    expect(get()).toBe('{"n":1}');
    clock += 1;
    expect(get()).toBe('{"n":2}');
  });
});
