import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SETTING_SOURCES } from "@openclaw/config";
import { freePort, spawnOclaw } from "@openclaw/testing";
import { afterAll, describe, expect, it } from "vitest";
import { startTestCluster } from "./cluster.js";

const dir = mkdtempSync(join(tmpdir(), "oc-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module loaded into an `oclaw` process before its own code (`node --import`). */
function preload(name: string, source: string): Record<string, string> {
  const file = join(dir, name);
  writeFileSync(file, source);
  return { NODE_OPTIONS: `--import ${pathToFileURL(file).href}` };
}

const SERVICES = ["coordinator", "registry", "health-monitor", "scheduler", "worker"];

describe("oclaw <service> configuration flags", () => {
  it("every service accepts every configuration flag, e.g. the coordinator --heartbeat-timeout", async () => {
    const proc = spawnOclaw(["coordinator", "--heartbeat-timeout", "abc"], { cwd: dir });
    expect(await proc.exited()).toBe(2);
    expect(proc.stderr()).toContain("oclaw coordinator: invalid configuration [OC-1001]");
    expect(proc.stderr()).toContain('coordinator.heartbeat_timeout = "abc" (from --heartbeat-timeout)');
  });

  it("--port is the worker's own port on a worker, the API port elsewhere", async () => {
    const worker = spawnOclaw(["worker", "--port", "abc"], { cwd: dir });
    const registry = spawnOclaw(["registry", "--port", "abc"], { cwd: dir });
    expect(await worker.exited()).toBe(2);
    expect(await registry.exited()).toBe(2);
    expect(worker.stderr()).toContain('worker.port = "abc" (from --port)');
    expect(registry.stderr()).toContain('coordinator.port = "abc" (from --port)');
  });

  it("oclaw up accepts every configuration flag too, and checks it before starting anything", async () => {
    const natsPort = await freePort();
    const up = spawnOclaw(
      [
        "up",
        "--nats-url",
        `nats://127.0.0.1:${natsPort}`,
        "--data-dir",
        join(dir, "data"),
        "--heartbeat-timeout",
        "abc",
      ],
      { cwd: dir },
    );
    expect(await up.exited()).toBe(2);
    expect(up.stderr()).toContain("oclaw up: invalid configuration [OC-1001]");
    expect(up.stderr()).toContain('coordinator.heartbeat_timeout = "abc" (from --heartbeat-timeout)');
  });

  it("each service's help lists every configuration flag with the key it sets", async () => {
    const flags = SETTING_SOURCES.filter((s) => s.flag);
    const helps = SERVICES.map((service) => ({
      service,
      proc: spawnOclaw([service, "--help"], { cwd: dir }),
    }));
    for (const { service, proc } of helps) {
      expect(await proc.exited()).toBe(0);
      const help = proc.logs.map((l) => String(l.raw ?? "")).join("\n");
      for (const s of flags) {
        expect(help, `${service} ${s.flag}`).toContain(s.flag as string);
        const path = service === "worker" && s.flag === "--port" ? "worker.port" : s.path;
        expect(help, `${service} ${s.flag}`).toContain(path);
      }
      for (const own of ["--config", "--secrets", "--instance"]) expect(help).toContain(own);
    }
  });
});

describe("oclaw <service> process lifecycle", () => {
  it("exits 1 with a fatal OC-5000 line on an unhandled rejection", async () => {
    const natsPort = await freePort();
    // Rejects once runService has installed its handlers (it installs SIGTERM's after them).
    const env = preload(
      "reject.mjs",
      `const timer = setInterval(() => {
         if (process.listenerCount("unhandledRejection") === 0 || process.listenerCount("SIGTERM") === 0) return;
         clearInterval(timer);
         void Promise.reject(new Error("rejected on purpose by a test"));
       }, 20);`,
    );
    const proc = spawnOclaw(["registry", "--nats-url", `nats://127.0.0.1:${natsPort}`], {
      cwd: dir,
      env: { ...env, OPENCLAW_NATS_CONNECT_TIMEOUT: "60s" },
    });
    expect(await proc.exitWithin(15_000)).toBe(1);
    const line = proc.logs.find((l) => String(l.message).startsWith("unhandled rejection"));
    expect(line).toMatchObject({
      level: "fatal",
      error_code: "OC-5000",
      error: "rejected on purpose by a test",
    });
  });

  it("a worker stopped (SIGTERM) while still starting waits for the start, then leaves", async () => {
    const cluster = await startTestCluster();
    try {
      // The worker's first disk-usage reading comes right after it registered, inside start:
      // signal it there, and hold the start a moment so the stop runs while start is unfinished.
      const env = preload(
        "term-in-start.mjs",
        `import { createRequire, syncBuiltinESMExports } from "node:module";
         const fsp = createRequire(import.meta.url)("node:fs/promises");
         const real = fsp.statfs;
         let first = true;
         fsp.statfs = async (...args) => {
           if (first) {
             first = false;
             process.kill(process.pid, "SIGTERM");
             await new Promise((r) => setTimeout(r, 1000));
           }
           return real(...args);
         };
         syncBuiltinESMExports();`,
      );
      const skills = join(dir, "no-skills");
      mkdirSync(skills, { recursive: true });
      const worker = cluster.spawn("worker", ["--node-id", "w-term", "--skills-dir", skills], env);
      expect(await worker.exitWithin(20_000)).toBe(0);
      const messages = worker.logs.map((l) => l.message);
      const order = messages.join(" / ");
      expect(messages).toContain("registered");
      expect(messages).toContain("stopping");
      expect(messages, order).toContain("worker started");
      expect(messages).toContain("left the cluster");
      // The leave comes after the start it waited for, and "stopped" last: every line is written,
      // in order, before the exit (a log write still under way at the exit once came out last).
      expect(messages.indexOf("worker started"), order).toBeLessThan(messages.indexOf("left the cluster"));
      expect(messages.indexOf("left the cluster"), order).toBeLessThan(messages.indexOf("stopped"));
    } finally {
      await cluster.stop();
    }
  });
});
