import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ConfigError, loadConfig } from "../src/index.js";
import { tempCwd as dir, errorLines } from "./helpers.js";

const SEED = new URL("./fixtures/seed-004-config.yaml", import.meta.url).pathname;

describe("loadConfig", () => {
  it("accepts seed 004's config.yaml exactly as written", () => {
    const { config } = loadConfig({ configFile: SEED, cwd: dir() });
    expect(config.coordinator.port).toBe(8888);
    expect(config.coordinator.heartbeat_timeout).toBe(90_000);
    expect(config.coordinator.heartbeat_check_interval).toBe(30_000);
    expect(config.worker.heartbeat_interval).toBe(5000);
    expect(config.worker.max_concurrent_tasks).toBe(5);
    expect(config.storage.path).toBe("./data/cluster.db");
    expect(config.communication.nats_url).toBe("nats://localhost:4222");
    expect(config.log.level).toBe("info");
  });

  it("uses defaults when there is no file", () => {
    const { config, files } = loadConfig({ cwd: dir(), env: {} });
    expect(files.config).toBeUndefined();
    expect(config.coordinator.port).toBe(8888);
    expect(config.cluster.subject_prefix).toBe("oc");
    expect(config.health).toEqual({
      unhealthy_threshold: 3,
      healthy_threshold: 2,
      unreachable_timeout: 10_000,
    });
  });

  it("applies flag > env > secrets > file > default", () => {
    const d = dir();
    writeFileSync(
      join(d, "config.yaml"),
      "coordinator:\n  port: 1001\nworker:\n  zone: file-zone\n  max_concurrent_tasks: 7\n",
    );
    writeFileSync(
      join(d, "secrets.yaml"),
      "communication:\n  nats_token: from-secrets\ncoordinator:\n  port: 1002\n",
    );
    const base = { cwd: d };
    expect(loadConfig(base).config.coordinator.port).toBe(1002); // secrets beats file
    const env = { OPENCLAW_PORT: "1003", NATS_TOKEN: "from-env" };
    const withEnv = loadConfig({ ...base, env }).config;
    expect(withEnv.coordinator.port).toBe(1003); // env beats secrets
    expect(withEnv.communication.nats_token).toBe("from-env");
    const withFlag = loadConfig({ ...base, env, flags: { "--port": "1004" }, service: "coordinator" }).config;
    expect(withFlag.coordinator.port).toBe(1004); // flag beats env
    expect(withFlag.worker.zone).toBe("file-zone"); // untouched keys keep the file's value
    expect(withFlag.worker.max_concurrent_tasks).toBe(7);
    expect(withFlag.worker.heartbeat_interval).toBe(5000); // default
  });

  it("reads the config path from OPENCLAW_CONFIG and secrets from OPENCLAW_SECRETS_FILE", () => {
    const d = dir();
    writeFileSync(join(d, "c.yaml"), "worker:\n  node_id: from-file\n");
    writeFileSync(
      join(d, "s.json"),
      JSON.stringify({ communication: { nats_password: "pw", nats_user: "u" } }),
    );
    const { config, files } = loadConfig({
      cwd: d,
      env: { OPENCLAW_CONFIG: "c.yaml", OPENCLAW_SECRETS_FILE: "s.json" },
    });
    expect(config.worker.node_id).toBe("from-file");
    expect(config.communication.nats_password).toBe("pw");
    expect(files.secrets).toBe(join(d, "s.json"));
  });

  it("maps --port to the worker's own port on a worker", () => {
    const { config } = loadConfig({ cwd: dir(), flags: { "--port": "19000" }, service: "worker" });
    expect(config.worker.port).toBe(19000);
    expect(config.coordinator.port).toBe(8888);
  });

  it("parses labels from k=v lists and maps", () => {
    const a = loadConfig({ cwd: dir(), flags: { "--labels": "gpu=true, tier=fast,arm" } }).config;
    expect(a.worker.labels).toEqual({ gpu: "true", tier: "fast", arm: "true" });
    const d = dir();
    writeFileSync(join(d, "config.yaml"), "worker:\n  labels:\n    gpu: true\n    cores: 8\n");
    expect(loadConfig({ cwd: d }).config.worker.labels).toEqual({ gpu: "true", cores: "8" });
  });

  it("reads API keys from a list or a comma-separated env, and refuses short ones naming the field", () => {
    const d = dir();
    writeFileSync(join(d, "secrets.yaml"), "coordinator:\n  api_keys:\n    - write-key-0123456789abcdef\n");
    const a = loadConfig({
      cwd: d,
      env: {
        OPENCLAW_READ_API_KEYS: "read-key-0123456789abcdef, other-read-key-0123456",
        OPENCLAW_OPEN_READS: "yes",
      },
    }).config;
    expect(a.coordinator.api_keys).toEqual(["write-key-0123456789abcdef"]);
    expect(a.coordinator.read_api_keys).toEqual(["read-key-0123456789abcdef", "other-read-key-0123456"]);
    expect(a.coordinator.open_reads).toBe(true);
    const text = errorLines(() =>
      loadConfig({ cwd: dir(), env: { OPENCLAW_API_KEYS: "short", OPENCLAW_OPEN_READS: "maybe" } }),
    ).join("\n");
    expect(text).toMatch(
      /coordinator\.api_keys\.0 = \(hidden\) \(from env OPENCLAW_API_KEYS\): .*at least 16 characters/,
    );
    expect(text).not.toContain("short"); // a secret never shows, even a bad one
    expect(text).toMatch(
      /coordinator\.open_reads = "maybe" \(from env OPENCLAW_OPEN_READS\): expected true or false/,
    );
  });

  it("reports one line per bad field with path, value, source and what is allowed", () => {
    const d = dir();
    writeFileSync(join(d, "config.yaml"), "coordinator:\n  port: 99999\nworker:\n  heartbeat_intervall: 5\n");
    const lines = errorLines(() =>
      loadConfig({
        cwd: d,
        env: { OPENCLAW_HEARTBEAT_INTERVAL: "soon" },
        flags: { "--node-id": "bad.id" },
        service: "worker",
      }),
    );
    expect(lines).toHaveLength(4);
    const text = lines.join("\n");
    expect(text).toMatch(
      /coordinator\.port = 99999 \(from .*config\.yaml\): expected a whole number from 0 to 65535/,
    );
    expect(text).toMatch(
      /worker\.heartbeat_interval = "soon" \(from env OPENCLAW_HEARTBEAT_INTERVAL\): expected a duration/,
    );
    expect(text).toMatch(/worker\.node_id = "bad\.id" \(from --node-id\): node id contains '\.'/);
    expect(text).toMatch(/worker: unknown key 'heartbeat_intervall'/);
  });

  it("refuses cross-field contradictions", () => {
    const lines = errorLines(() =>
      loadConfig({
        cwd: dir(),
        env: { OPENCLAW_HEARTBEAT_TIMEOUT: "2s", OPENCLAW_HEARTBEAT_INTERVAL: "5s" },
      }),
    );
    expect(lines.join("\n")).toContain("coordinator.heartbeat_timeout");
    expect(lines.join("\n")).toContain("longer than worker.heartbeat_interval");
  });

  it("fails clearly on a missing or unparsable file", () => {
    const d = dir();
    expect(() => loadConfig({ cwd: d, configFile: "nope.yaml" })).toThrow(
      /nope\.yaml: cannot be read \(ENOENT\)/,
    );
    writeFileSync(join(d, "broken.yaml"), "worker: [unclosed\n");
    const err = (() => {
      try {
        loadConfig({ cwd: d, configFile: "broken.yaml" });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.code).toBe("OC-1002");
    expect(err?.message).toContain("not valid YAML");
  });

  it("refuses a flag that is not a configuration flag", () => {
    expect(errorLines(() => loadConfig({ cwd: dir(), flags: { "--bogus": "1" } }))[0]).toContain("--bogus");
  });

  it("returns a frozen object", () => {
    const { config } = loadConfig({ cwd: dir() });
    expect(Object.isFrozen(config.worker)).toBe(true);
  });
});
