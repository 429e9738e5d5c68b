import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type ServiceProcess, spawnOclaw } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForNodes } from "./cluster.js";

/**
 * Walks the README's five-minute tour as a user would: its commands, copied as they are, against
 * a cluster `oclaw up` started. Only the API's address is changed (a free port instead of 8888),
 * so the tour cannot drift from what works.
 */
const ROOT = new URL("..", import.meta.url).pathname;

/** The commands of the README's tour: its bash blocks, continuation lines joined. */
function tourCommands(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const tour = readme.slice(
    readme.indexOf("## A five-minute tour"),
    readme.indexOf("## Running the services"),
  );
  const commands: string[] = [];
  for (const block of tour.matchAll(/```bash\n([\s\S]*?)```/g)) {
    const joined = (block[1] as string).replace(/\\\n\s*/g, "");
    for (const line of joined.split("\n"))
      if (line.trim() !== "" && !line.startsWith("#")) commands.push(line);
  }
  return commands;
}

/** The exit code a command's comment promises (`# exit 2`, `# exits 1 ...`), else 0. */
function expectedExit(command: string): number {
  const m = /#.*\bexits? (\d)\b/.exec(command);
  return m ? Number(m[1]) : 0;
}

let up: ServiceProcess;
let port: number;
const dir = mkdtempSync(join(tmpdir(), "oc-tour-"));

beforeAll(async () => {
  port = await freePort();
  up = spawnOclaw(
    [
      "up",
      "--nats-url",
      `nats://127.0.0.1:${await freePort()}`,
      "--port",
      String(port),
      "--data-dir",
      join(dir, "data"),
    ],
    { cwd: ROOT },
  );
  await up.waitForLog((l) => String(l.raw ?? "").startsWith("OpenClaw Cluster API:"), 90_000);
  // A person reads the banner first: by then the local worker has joined.
  await waitForNodes(`http://127.0.0.1:${port}`, (n) =>
    n.some((x) => x.node_id === "local-worker" && x.status === "online"),
  );
}, 120_000);

afterAll(async () => {
  await up?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync("/tmp/tour-skills", { recursive: true, force: true });
});

describe("the README's tour", () => {
  it("every command runs as the README says, with the outcomes it promises", async () => {
    const commands = tourCommands();
    expect(commands.length).toBeGreaterThan(15);
    // One shell for the whole tour (its variables and background job carry over), each command
    // followed by a marker with its exit code.
    // `set -m`: background jobs get their own process group, as in an interactive shell, so the
    // tour's `kill %1` reaches the worker behind `npx` as it does in a user's terminal.
    const script = `set -m\n${commands
      .map((c, i) => `${c.replaceAll("localhost:8888", `127.0.0.1:${port}`)}\nprintf '\\n@@rc ${i} %d\\n' $?`)
      .join("\n")}`;
    const out = await new Promise<string>((resolve, reject) => {
      const sh = spawn("bash", ["-c", script], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      sh.stdout.on("data", (d: Buffer) => {
        text += d.toString();
      });
      sh.stderr.on("data", (d: Buffer) => {
        text += d.toString();
      });
      const timer = setTimeout(() => {
        sh.kill("SIGKILL");
        reject(new Error(`the tour did not finish in 150 s:\n${text}`));
      }, 150_000);
      sh.on("close", () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    const codes = new Map([...out.matchAll(/^@@rc (\d+) (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
    commands.forEach((c, i) => {
      expect(codes.get(i), `${c}\n---\n${out}`).toBe(expectedExit(c));
    });
    // What the tour's comments promise.
    expect(out).toContain('"hi": 1');
    expect(out).toContain("waiting: no online node has skill shout");
    expect(out).toContain('"text": "HELLO"');
    expect(out).toContain('"worker-002"');
    expect(out).toMatch(/"the": 2/);
    expect(out).toContain("OC-4001");
    // `kill %1` stopped the worker: it left the cluster.
    expect(readFileSync("/tmp/worker-002.log", "utf8")).toContain("left the cluster");
  }, 180_000);
});
