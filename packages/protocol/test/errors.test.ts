import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, OcError } from "../src/index.js";

describe("error codes", () => {
  const doc = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");

  it.each(Object.entries(ERROR_CODES))(
    "documents %s in docs/errors.md with its name and HTTP status",
    (code, def) => {
      const row = doc.split("\n").find((line) => line.includes(`\`${code}\``));
      expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
      expect(row).toContain(def.name);
      expect(row).toContain(String(def.status));
    },
  );

  it("documents no code that does not exist", () => {
    const documented = [...doc.matchAll(/`(OC-\d{4})`/g)].map((m) => m[1]);
    for (const code of documented) expect(Object.keys(ERROR_CODES)).toContain(code);
  });

  it("carries code, status and cause", () => {
    const cause = new Error("root");
    const err = new OcError("OC-4004", "node 'x' not found", { cause, field: "id" });
    expect(err.code).toBe("OC-4004");
    expect(err.status).toBe(404);
    expect(err.cause).toBe(cause);
    expect(err.field).toBe("id");
    expect(err.name).toBe("OcError");
  });
});
