import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configKeys, loadConfig, SETTING_SOURCES } from "../src/index.js";

const doc = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
const example = new URL("../../../config.example.yaml", import.meta.url).pathname;

describe("configuration docs", () => {
  const keys = configKeys();

  it("documents every key of the schema", () => {
    expect(keys.length).toBeGreaterThan(20);
    for (const key of keys) expect(doc, key).toContain(`\`${key}\``);
  });

  it("documents every environment variable and flag with its key", () => {
    for (const s of SETTING_SOURCES) {
      const row = doc.split("\n").find((l) => l.startsWith(`| \`${s.path}\``));
      expect(row, s.path).toBeDefined();
      if (s.env) expect(row).toContain(`\`${s.env}\``);
      if (s.flag) expect(row).toContain(`\`${s.flag}`);
    }
  });

  it("config.example.yaml loads and equals the defaults", () => {
    const fromExample = loadConfig({ configFile: example }).config;
    const defaults = loadConfig({ cwd: "/" }).config;
    expect({ ...fromExample, worker: { ...fromExample.worker, node_id: "x" } }).toEqual({
      ...defaults,
      worker: { ...defaults.worker, node_id: "x" },
    });
  });
});
