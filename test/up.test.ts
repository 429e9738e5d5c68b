import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnOclaw, waitFor } from "@openclaw/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type ApiNode, getJson } from "./cluster.js";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "oc-up-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("oclaw up (npm start)", () => {
  it("starts nats-server when none answers, every service and a worker; Ctrl+C stops everything", async () => {
    const natsPort = await freePort();
    const up = spawnOclaw(
      [
        "up",
        "--nats-url",
        `nats://127.0.0.1:${natsPort}`,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--data-dir",
        join(dir, "data"),
      ],
      { cwd: dir, env: { OPENCLAW_HEARTBEAT_INTERVAL: "500ms" } },
    );
    try {
      const line = await up.waitForLog(
        (l) => String(l.raw ?? "").startsWith("OpenClaw Cluster API:"),
        60_000,
      );
      const api = String(line.raw).split(": ")[1]?.trim() as string;
      expect(up.logs.some((l) => String(l.raw).includes("started nats-server"))).toBe(true);
      const nodes = await waitFor(
        async () => {
          const { body } = await getJson<ApiNode[]>(`${api}/api/v1/nodes`);
          return body.find((n) => n.node_id === "local-worker" && n.status === "online");
        },
        { timeout: 20_000 },
      );
      expect(nodes.available_skills).toContain("echo");
      expect((await getJson(`${api}/health`)).status).toBe(200);

      expect(await up.signal("SIGINT", 30_000)).toBe(0);
      const said = up.logs.map((l) => String(l.raw ?? ""));
      for (const s of ["worker", "coordinator", "scheduler", "health-monitor", "registry", "nats-server"]) {
        expect(said).toContain(`  stopped ${s}`);
      }
      await expect(fetch(`${api}/health`)).rejects.toThrow();
    } finally {
      await up.stop();
    }
  });

  it("says how to install nats-server when none answers and none is installed, and exits non-zero", async () => {
    const natsPort = await freePort();
    const up = spawnOclaw(
      ["up", "--nats-url", `nats://127.0.0.1:${natsPort}`, "--data-dir", join(dir, "data2")],
      {
        cwd: dir,
        env: { NATS_SERVER_BIN: "/nonexistent/nats-server" },
      },
    );
    expect(await up.exited()).toBe(1);
    expect(up.stderr()).toContain("OC-1003");
    expect(up.stderr()).toContain("apt-get install -y nats-server");
  });
});
