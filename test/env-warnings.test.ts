import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnOclaw } from "@openclaw/testing";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "oc-env-warn-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WARNING = "environment variable OPENCLAW_PROT is not read; did you mean OPENCLAW_PORT?";

describe("a misspelt OPENCLAW_* variable (OPENCLAW_PROT=9000 was ignored without a word)", () => {
  it("an oclaw command warns once on stderr", async () => {
    const proc = spawnOclaw(["tasks", "--api-url", `http://127.0.0.1:${await freePort()}`], {
      cwd: dir,
      env: { OPENCLAW_PROT: "9000" },
    });
    await proc.exitWithin(30_000);
    expect(proc.stderr().split(WARNING)).toHaveLength(2);
    expect(proc.stderr()).toContain(`oclaw: warning: ${WARNING}`);
  });

  it("a service warns once in its log, not on stderr", async () => {
    const proc = spawnOclaw(["registry", "--nats-url", `nats://127.0.0.1:${await freePort()}`], {
      cwd: dir,
      env: { OPENCLAW_PROT: "9000", OPENCLAW_NATS_CONNECT_TIMEOUT: "1s" },
    });
    const line = await proc.waitForLog((l) => l.message === WARNING, 30_000);
    expect(line.level).toBe("warn");
    expect(await proc.exitWithin(30_000)).toBe(1);
    expect(proc.logs.filter((l) => l.message === WARNING)).toHaveLength(1);
    expect(proc.stderr()).not.toContain("did you mean");
  });

  it("nothing is said without one", async () => {
    const proc = spawnOclaw(["tasks", "--api-url", `http://127.0.0.1:${await freePort()}`], {
      cwd: dir,
      env: { OPENCLAW_API_KEY: "k-0123456789abcdef" },
    });
    await proc.exitWithin(30_000);
    expect(proc.stderr()).not.toContain("warning");
  });
});
