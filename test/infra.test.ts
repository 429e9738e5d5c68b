import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = new URL("..", import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Every source file of the services and packages, to check that names used in infra/ exist. */
function sources(dir = ROOT, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", "dist", ".git", "test"].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith(".ts") && path.includes("/src/")) out.push(readFileSync(path, "utf8"));
  }
  return out;
}

describe("infra/prometheus", () => {
  it("the scrape config and the alert rules parse, and every metric they use is one the services define", () => {
    const config = parse(read("infra/prometheus/prometheus.yml"));
    expect(config.rule_files).toEqual(["alerts.yml"]);
    expect(config.scrape_configs.map((s: { job_name: string }) => s.job_name)).toEqual(
      expect.arrayContaining(["openclaw-coordinator", "openclaw-scheduler", "openclaw-worker"]),
    );
    const coordinator = config.scrape_configs.find(
      (s: { job_name: string }) => s.job_name === "openclaw-coordinator",
    );
    expect(coordinator.metrics_path).toBe("/api/v1/metrics");

    const rules = parse(read("infra/prometheus/alerts.yml")).groups.flatMap(
      (g: { rules: unknown[] }) => g.rules,
    ) as {
      alert: string;
      expr: string;
    }[];
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        "OpenClawApiLatencyHigh",
        "OpenClawQueueBacklog",
        "OpenClawSchedulingFailureRate",
        "OpenClawNodeResourceHigh",
      ]),
    );
    const code = sources().join("\n");
    for (const r of rules) {
      const names = new Set(
        [...r.expr.matchAll(/\b(openclaw_[a-z_]+?)(_bucket|_count|_sum)?\b/g)].map((m) => m[1] as string),
      );
      expect(names.size, r.alert).toBeGreaterThan(0);
      for (const name of names) expect(code, `${r.alert} uses ${name}`).toContain(`"${name}"`);
    }
  });
});
