import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isOcError, OcError, OpenClawCluster } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "oc-sdk-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What `new OpenClawCluster({ configPath })` throws (it reads the file before connecting). */
function thrown(configPath: string): OcError {
  let err: unknown;
  try {
    new OpenClawCluster({ configPath });
  } catch (e) {
    err = e;
  }
  expect(isOcError(err)).toBe(true);
  return err as OcError;
}

describe("the SDK's configPath", () => {
  it("a file that does not exist: OC-1002 in one line naming the option, the path as given and where it was looked for", () => {
    const missing = join(dir, "cluster-config.yaml");
    const given = relative(process.cwd(), missing);
    const err = thrown(given);
    expect(err).toBeInstanceOf(OcError);
    expect(err.code).toBe("OC-1002");
    expect(err.field).toBe("configPath");
    expect(err.message).toBe(`configPath ${JSON.stringify(given)} (${missing}): no such file`);
    expect(err.message).not.toContain("\n");
  });

  it("an absolute path is named once", () => {
    const missing = join(dir, "nope.yaml");
    expect(thrown(missing).message).toBe(`configPath ${JSON.stringify(missing)}: no such file`);
  });

  it("a file that is not YAML: OC-1002 with the parser's first line", () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "communication:\n  nats_url: [nats://a:4222\n");
    const err = thrown(file);
    expect(err.code).toBe("OC-1002");
    expect(err.field).toBe("configPath");
    expect(err.message).toContain(`configPath ${JSON.stringify(file)}: not valid YAML: `);
    expect(err.message).not.toContain("\n");
  });

  it("a directory: OC-1002", () => {
    const sub = join(dir, "a-folder");
    mkdirSync(sub);
    const err = thrown(sub);
    expect(err.code).toBe("OC-1002");
    expect(err.message).toBe(`configPath ${JSON.stringify(sub)}: is a directory, not a file`);
  });

  it("YAML that is not a mapping of sections: OC-1001", () => {
    const file = join(dir, "list.yaml");
    writeFileSync(file, "- communication\n- cluster\n");
    const err = thrown(file);
    expect(err.code).toBe("OC-1001");
    expect(err.message).toContain("expected a mapping of sections");
    expect(err.message).toContain("not a list");
  });

  it("an empty file, and one in either layout, are read", async () => {
    const empty = join(dir, "empty.yaml");
    writeFileSync(empty, "");
    const a = new OpenClawCluster({ configPath: empty, natsUrl: "nats://127.0.0.1:1" });
    expect(a.options.natsUrl).toBe("nats://127.0.0.1:1");

    const file = join(dir, "cluster-config.yaml");
    writeFileSync(
      file,
      [
        "communication:",
        "  nats_url: nats://127.0.0.1:4999",
        "cluster:",
        "  subject_prefix: mine",
        "distribution:",
        "  strategy: round-robin",
        "retryPolicy:",
        "  maxAttempts: 5",
        "",
      ].join("\n"),
    );
    const b = new OpenClawCluster({ configPath: file });
    expect(b.options).toMatchObject({
      natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4999",
      prefix: process.env.OPENCLAW_SUBJECT_PREFIX ?? "mine",
      strategy: "round-robin",
      retryOverrides: { max_attempts: 5 },
    });
    await a.close();
    await b.close();
  });
});
