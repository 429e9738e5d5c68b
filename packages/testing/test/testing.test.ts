import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StopWaiting, spawnOclaw, startNatsCluster, startNatsServer, waitFor } from "../src/index.js";

describe("waitFor", () => {
  it("retries other errors until the deadline, but gives up at once on StopWaiting", async () => {
    let calls = 0;
    await expect(
      waitFor(
        () => {
          calls++;
          throw new Error("not yet");
        },
        { timeout: 200, interval: 10 },
      ),
    ).rejects.toThrow(/within 200ms: not yet/);
    expect(calls).toBeGreaterThan(2);

    const started = Date.now();
    await expect(
      waitFor(
        () => {
          throw new StopWaiting("never going to happen");
        },
        { timeout: 10_000 },
      ),
    ).rejects.toThrow("never going to happen");
    expect(Date.now() - started).toBeLessThan(5000); // well before the 10 s timeout
  });
});

describe("spawnOclaw", () => {
  it("waitForLog fails as soon as the process has exited, not at its timeout", async () => {
    const proc = spawnOclaw(["no-such-command"]);
    const started = Date.now();
    await expect(proc.waitForLog(() => false, 30_000)).rejects.toThrow(/exited \(2\) before the log line/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("startNatsServer", () => {
  const savedTmp = process.env.TMPDIR;
  afterEach(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });

  it("fails fast when nats-server cannot start, and leaves neither its temp dir nor a process", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "oc-testing-"));
    try {
      process.env.TMPDIR = tmp; // os.tmpdir() reads it on every call
      const started = Date.now();
      await expect(startNatsServer({ extraConfig: "this is { not valid" })).rejects.toThrow(
        /nats-server exited/,
      );
      expect(Date.now() - started).toBeLessThan(8000);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("restarts after a hard kill on the same port and store", async () => {
    const first = await startNatsServer();
    await first.kill();
    expect(first.process.signalCode).toBe("SIGKILL");
    const second = await first.restart();
    try {
      expect(second.port).toBe(first.port);
      expect(second.storeDir).toBe(first.storeDir);
      expect(readdirSync(second.storeDir)).toContain("jetstream");
    } finally {
      await second.stop();
    }
  });

  it("removes every temp dir after a restart", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "oc-testing-"));
    try {
      process.env.TMPDIR = tmp;
      const first = await startNatsServer();
      const second = await first.restart();
      expect(second.port).toBe(first.port);
      await second.stop();
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("startNatsCluster", () => {
  it("starts a JetStream cluster on loopback; a node stops and restarts on its ports and store", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "oc-testing-"));
    const savedTmp = process.env.TMPDIR;
    try {
      process.env.TMPDIR = tmp;
      const nats = await startNatsCluster({ size: 3 });
      try {
        expect(nats.urls).toHaveLength(3);
        expect(nats.url).toBe(nats.urls.join(","));
        expect(new Set(nats.nodes.flatMap((n) => [n.port, n.clusterPort, n.httpPort])).size).toBe(9);
        expect(nats.nodes.map((n) => n.name)).toEqual(["n1", "n2", "n3"]);
        const leader = await nats.metaLeader();
        expect(nats.nodes.map((n) => n.name)).toContain(leader);

        const victim = nats.nodes.findIndex((n) => n.name === leader);
        await nats.stop(victim);
        expect(nats.nodes[victim]?.running).toBe(false);
        // The other two elect a new meta leader.
        await waitFor(
          async () => {
            const l = await nats.metaLeader();
            return l !== undefined && l !== leader;
          },
          { timeout: 30_000 },
        );

        const before = nats.nodes[victim];
        await nats.restart(victim);
        expect(nats.nodes[victim]?.running).toBe(true);
        expect(nats.nodes[victim]?.port).toBe(before?.port);
        expect(readdirSync(nats.nodes[victim]?.storeDir ?? "")).toContain("jetstream");
      } finally {
        await nats.stopAll();
      }
      expect(nats.nodes.every((n) => !n.running)).toBe(true);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
