import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { editDistance, envWarnings, knownEnvNames, loadConfig, SETTING_SOURCES } from "../src/index.js";
import { tempCwd as dir, errorLines } from "./helpers.js";

describe("configuration messages", () => {
  it("names the file of a nested unknown key (worker.heartbeat_intervall in config.yaml, communication.nats_tokn in secrets.yaml)", () => {
    const d = dir();
    writeFileSync(join(d, "config.yaml"), "worker:\n  heartbeat_intervall: 5s\n");
    writeFileSync(join(d, "secrets.yaml"), "communication:\n  nats_tokn: x\n");
    const lines = errorLines(() => loadConfig({ cwd: d }));
    expect(lines).toContain(`worker: unknown key 'heartbeat_intervall' (in ${join(d, "config.yaml")})`);
    expect(lines).toContain(`communication: unknown key 'nats_tokn' (in ${join(d, "secrets.yaml")})`);
  });

  it("names the file of an unknown section, not a section that merely starts like it", () => {
    const d = dir();
    writeFileSync(join(d, "config.yaml"), "worker:\n  zone: a\n");
    writeFileSync(join(d, "secrets.yaml"), "work:\n  zone: a\n");
    const lines = errorLines(() => loadConfig({ cwd: d }));
    expect(lines).toEqual([`top level: unknown key 'work' (in ${join(d, "secrets.yaml")})`]);
  });

  it("refuses tasks.initial_backoff longer than tasks.max_backoff, naming both (OPENCLAW_INITIAL_BACKOFF=10m was accepted)", () => {
    const text = errorLines(() => loadConfig({ cwd: dir(), env: { OPENCLAW_INITIAL_BACKOFF: "10m" } })).join(
      "\n",
    );
    expect(text).toMatch(
      /tasks\.initial_backoff = "10m" \(from env OPENCLAW_INITIAL_BACKOFF\): must not be longer than tasks\.max_backoff \(5m\)/,
    );
    const d = dir();
    writeFileSync(join(d, "config.yaml"), "tasks:\n  initial_backoff: 2s\n  max_backoff: 1s\n");
    expect(errorLines(() => loadConfig({ cwd: d })).join("\n")).toContain("tasks.max_backoff (1s)");
    // Equal is fine: every retry waits the same.
    const same = loadConfig({ cwd: dir(), env: { OPENCLAW_INITIAL_BACKOFF: "5m" } }).config.tasks;
    expect(same.initial_backoff).toBe(same.max_backoff);
  });

  describe("misspelt OPENCLAW_* environment variables (OPENCLAW_PROT=9000 was ignored without a word)", () => {
    it("suggests the variable meant", () => {
      expect(
        envWarnings({
          OPENCLAW_PROT: "9000",
          openclaw_log_level: "debug",
          OPENCLAW_HEARTBEAT_TIMEOT: "30s",
          OPENCLAW_SKILS_DIR: "./s",
          OPENCLAW_API_URLL: "http://x",
          PATH: "/usr/bin",
        }),
      ).toEqual([
        "environment variable OPENCLAW_API_URLL is not read; did you mean OPENCLAW_API_URL?",
        "environment variable OPENCLAW_HEARTBEAT_TIMEOT is not read; did you mean OPENCLAW_HEARTBEAT_TIMEOUT?",
        "environment variable OPENCLAW_PROT is not read; did you mean OPENCLAW_PORT?",
        "environment variable OPENCLAW_SKILS_DIR is not read; did you mean OPENCLAW_SKILLS_DIR?",
        "environment variable openclaw_log_level is not read; did you mean OPENCLAW_LOG_LEVEL?",
      ]);
    });

    it("is silent about every variable the product reads, and about OPENCLAW_* ones far from them", () => {
      const env: Record<string, string> = {};
      for (const s of SETTING_SOURCES) if (s.env) env[s.env] = "x";
      for (const name of knownEnvNames()) env[name] = "x";
      for (const name of [
        "OPENCLAW_API_URL",
        "OPENCLAW_API_KEY",
        "OPENCLAW_INSTANCE_ID",
        "OPENCLAW_TASK_ID",
        "OPENCLAW_ATTEMPT",
        "OPENCLAW_CONFIG",
        "OPENCLAW_SECRETS_FILE",
        // OpenClaw's own, on the same machine.
        "OPENCLAW_HOME",
        "OPENCLAW_STATE_DIR",
        "OPENCLAW_GATEWAY_TOKEN",
        "OPENSSL_CONF",
      ])
        env[name] = "x";
      expect(envWarnings(env)).toEqual([]);
    });

    it("counts a swap of two letters as one edit", () => {
      expect(editDistance("PROT", "PORT")).toBe(1);
      expect(editDistance("", "abc")).toBe(3);
      expect(editDistance("kitten", "sitting")).toBe(3);
    });
  });
});
