import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, startTestCluster, type TestCluster } from "./cluster.js";

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster();
});
afterAll(async () => {
  await c?.stop();
});

describe("a service under oclaw up", () => {
  it.each(["registry", "worker"])(
    "%s exits when its supervisor is killed hard and nobody reads its output any more",
    async (service) => {
      const supervisor = spawn("sleep", ["120"]);
      const args =
        service === "worker" ? ["--node-id", `orphan-${Date.now()}`, "--skills-dir", EXAMPLE_SKILLS] : [];
      const proc = c.spawn(service, args, {
        OCLAW_SUPERVISOR_PID: String(supervisor.pid),
        OPENCLAW_LOG_LEVEL: "info",
      });
      await proc.waitForLog(
        (l) => l.message === "registry consuming node messages" || l.message === "worker started",
        20_000,
      );
      // As when `up` is SIGKILLed: the process that read its logs is gone, then so is its supervisor.
      proc.child.stdout?.destroy();
      supervisor.kill("SIGKILL");
      expect(await proc.exitWithin(30_000)).not.toBe("still running");
    },
    60_000,
  );
});
