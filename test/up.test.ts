import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, freePortRange, type ServiceProcess, spawnOclaw, waitFor } from "@openclaw/testing";
import { afterAll, describe, expect, it } from "vitest";
import { type ApiNode, getJson } from "./cluster.js";

const dir = mkdtempSync(join(tmpdir(), "oc-up-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SERVICES = ["registry", "health-monitor", "scheduler", "coordinator", "worker"];

/** True while `pid` runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true;
  }
}

function said(up: ServiceProcess): string[] {
  return up.logs.map((l) => String(l.raw ?? ""));
}

/** `oclaw up --verbose` prints `• <service> pid <n>` for each service it starts. */
function servicePids(up: ServiceProcess): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of said(up)) {
    const m = /^• (\S+) pid (\d+)$/.exec(line);
    if (m) pids.set(m[1] as string, Number(m[2]));
  }
  return pids;
}

function natsPidFile(dataDir: string): string {
  return join(dataDir, "nats", "nats-server.pid");
}

async function startUp(
  dataDir: string,
  extra: string[] = [],
): Promise<{ up: ServiceProcess; args: string[]; natsUrl: string }> {
  const natsUrl = `nats://127.0.0.1:${await freePort()}`;
  const args = [
    "up",
    "--nats-url",
    natsUrl,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data-dir",
    dataDir,
    "--verbose",
    ...extra,
  ];
  const up = spawnOclaw(args, { cwd: dir });
  await up.waitForLog((l) => String(l.raw ?? "").startsWith("OpenClaw Cluster API:"), 60_000);
  return { up, args, natsUrl };
}

describe("oclaw up (npm start)", () => {
  it("starts nats-server when none answers, every service and a worker; Ctrl+C stops everything", async () => {
    const natsPort = await freePort();
    const metricsPort = await freePortRange(4);
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
        "--metrics-port",
        String(metricsPort),
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

      // Reproduction: `up --metrics-port N` gave every service port N, and the cluster stopped
      // with EADDRINUSE. Each service has its own now, in the systemd units' order.
      for (const [i, service] of ["scheduler", "health-monitor", "registry", "worker"].entries()) {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort + i}/metrics`)).text();
        expect(text).toContain(`service="${service}"`);
      }

      // Reproduction: after `up --nats-url X`, submit, drain, leaders and elect still talked to
      // localhost:4222. With no flag, every command, run from any folder, reaches the cluster `up`
      // started (over NATS and over HTTP).
      const elsewhere = mkdtempSync(join(tmpdir(), "oc-elsewhere-"));
      const leaders = spawnOclaw(["leaders", "--json"], { cwd: elsewhere });
      expect(await leaders.exited()).toBe(0);
      const held = JSON.parse(leaders.stdout()) as { leaders: Record<string, { holder: string } | null> };
      expect(held.leaders.scheduler?.holder).toMatch(/^scheduler-/);
      const submitted = spawnOclaw(["submit", "echo", "--payload", '{"hi":1}', "--wait", "--json"], {
        cwd: elsewhere,
      });
      expect(await submitted.exited()).toBe(0);
      const done = JSON.parse(submitted.stdout()) as { task_id: string; result: unknown };
      expect(done.result).toEqual({ hi: 1 });
      const task = spawnOclaw(["task", done.task_id, "--json"], { cwd: elsewhere });
      expect(await task.exited()).toBe(0);
      expect(JSON.parse(task.stdout())).toMatchObject({ task_id: done.task_id, status: "completed" });
      expect(existsSync(join(process.env.OCLAW_HOME as string, "up.json"))).toBe(true);

      expect(await up.signal("SIGINT", 30_000)).toBe(0);
      // Stopped, it is no longer followed.
      expect(existsSync(join(process.env.OCLAW_HOME as string, "up.json"))).toBe(false);
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

  it("stops everything and exits 1 when a service is killed by a signal", async () => {
    const dataDir = join(dir, "data-kill");
    const { up, natsUrl } = await startUp(dataDir, ["--heartbeat-timeout", "30s"]);
    try {
      const pids = servicePids(up);
      expect([...pids.keys()].sort()).toEqual([...SERVICES].sort());
      const natsPid = Number(readFileSync(natsPidFile(dataDir), "utf8"));
      expect(said(up)).toContain(
        `• started nats-server on ${natsUrl} (pid ${natsPid}, JetStream store ${join(dataDir, "nats")})`,
      );
      if (existsSync("/proc/self/cmdline")) {
        // Every config flag given to `up` reaches every service; --port only the coordinator.
        for (const [name, pid] of pids) {
          const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
          expect(argv[argv.indexOf("--heartbeat-timeout") + 1], name).toBe("30s");
          expect(argv.includes("--port"), name).toBe(name === "coordinator");
        }
      }

      process.kill(pids.get("scheduler") as number, "SIGKILL");
      expect(await up.exitWithin(20_000)).toBe(1);
      expect(up.stderr()).toMatch(/scheduler \(pid \d+\) exited \(killed by SIGKILL\); stopping the cluster/);
      for (const s of ["worker", "coordinator", "health-monitor", "registry", "nats-server"]) {
        expect(said(up)).toContain(`  stopped ${s}`);
      }
      for (const pid of [...pids.values(), natsPid]) expect(alive(pid), String(pid)).toBe(false);
    } finally {
      await up.stop();
    }
  });

  it("stops everything and exits 1 when its nats-server dies", async () => {
    const dataDir = join(dir, "data-nats-dies");
    const { up } = await startUp(dataDir);
    try {
      const pids = servicePids(up);
      const natsPid = Number(readFileSync(natsPidFile(dataDir), "utf8"));
      process.kill(natsPid, "SIGKILL");
      expect(await up.exitWithin(20_000)).toBe(1);
      expect(up.stderr()).toMatch(/nats-server \(pid \d+\) killed by SIGKILL; stopping the cluster/);
      for (const pid of pids.values()) expect(alive(pid), String(pid)).toBe(false);
    } finally {
      await up.stop();
    }
  });

  it("adopts the nats-server an `up` killed hard left behind, and stops it on SIGHUP", async () => {
    const dataDir = join(dir, "data-adopt");
    // A stale pid file first: its process is long gone.
    mkdirSync(join(dataDir, "nats"), { recursive: true });
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid as number;
    writeFileSync(natsPidFile(dataDir), String(deadPid));

    const { up: first, args } = await startUp(dataDir);
    let second: ServiceProcess | undefined;
    const natsPid = Number(readFileSync(natsPidFile(dataDir), "utf8"));
    try {
      expect(said(first).some((l) => l.includes("removed the stale"))).toBe(true);
      expect(natsPid).not.toBe(deadPid);
      const services = servicePids(first);

      // `up` dies without stopping anything: its services notice and stop; its nats-server stays.
      process.kill(first.pid, "SIGKILL");
      await first.exited();
      // Each notices within a second and stops; at worst its own 15 s stop deadline ends it.
      await waitFor(() => [...services.values()].every((pid) => !alive(pid)), { timeout: 45_000 });
      expect(alive(natsPid)).toBe(true);

      second = spawnOclaw(args, { cwd: dir });
      await second.waitForLog((l) => String(l.raw ?? "").startsWith("OpenClaw Cluster API:"), 60_000);
      expect(
        said(second).some((l) => l.includes(`adopted the nats-server`) && l.includes(`pid ${natsPid}`)),
      ).toBe(true);
      expect(said(second).some((l) => l.includes("started nats-server"))).toBe(false);

      // SIGHUP (the terminal closed) stops the cluster like Ctrl+C, the adopted NATS included.
      expect(await second.signal("SIGHUP", 30_000)).toBe(0);
      expect(said(second)).toContain("  stopped nats-server");
      expect(alive(natsPid)).toBe(false);
      expect(existsSync(natsPidFile(dataDir))).toBe(false);
      for (const pid of servicePids(second).values()) expect(alive(pid)).toBe(false);
    } finally {
      await second?.stop();
      await first.stop();
      if (alive(natsPid)) process.kill(natsPid, "SIGKILL");
    }
  }, 150_000);
});
