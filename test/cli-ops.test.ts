import { spawnSync } from "node:child_process";
import { freePort, OCLAW_BIN, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/**
 * The operator's read and task commands (`oclaw status`, `nodes`, `node`, `tasks`, `task`,
 * `cancel`, `retry`) against a real cluster through the coordinator's API: what they print, their
 * `--json`, and their exit codes (0 ok, 1 failed task or error, 2 usage).
 */
let c: TestCluster;
let api: string;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
  c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
  api = (await c.coordinator()).url;
  await Promise.all([
    c.worker("ops-w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "2", "--labels", "gpu=true"]),
    c.worker("ops-w2", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "3"]),
  ]);
  await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 2);
}, 60_000);

afterAll(async () => {
  await c?.stop();
});

/** Runs `oclaw <args>` (HTTP API commands with `--api-url`) and resolves with its exit code and output. */
async function oclaw(args: string[], extraEnv: Record<string, string> = {}) {
  const viaNats = args[0] === "submit";
  const proc = c.spawn(
    args[0] as string,
    [...args.slice(1), ...(viaNats ? [] : ["--api-url", api])],
    extraEnv,
  );
  const code = await proc.exitWithin(30_000);
  return { code, out: proc.stdout(), err: proc.stderr() };
}

async function json<T>(args: string[]): Promise<T> {
  const r = await oclaw([...args, "--json"]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as T;
}

/** Waits until the coordinator at `url` has the task in its read model. */
async function waitForTaskRow(url: string, id: string, key: string): Promise<void> {
  await waitFor(async () => {
    const res = await fetch(`${url}/api/v1/tasks/${id}`, { headers: { authorization: `Bearer ${key}` } });
    return res.status === 200;
  });
}

async function submit(payload: unknown, skill = "echo", extra: string[] = []): Promise<string> {
  const r = await oclaw(["submit", skill, "--payload", JSON.stringify(payload), "--json", ...extra]);
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { task_id: string }).task_id;
}

describe("oclaw operator commands", () => {
  it("status: nodes online, capacity, the queue and the leaders, as text and as JSON", async () => {
    const s = await json<{
      health: { online_nodes: number; total_capacity: number };
      queue: { pending_by_priority: Record<string, number> };
      leaders: Record<string, { holder: string } | null>;
    }>(["status"]);
    expect(s.health).toMatchObject({ online_nodes: 2, total_capacity: 5 });
    expect(Object.keys(s.queue.pending_by_priority).sort()).toEqual(["critical", "high", "low", "normal"]);
    expect(s.leaders.scheduler?.holder).toBeTruthy();
    expect(s.leaders["health-monitor"]?.holder).toBeTruthy();

    const text = await oclaw(["status"]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/nodes\s+2\/2 online/);
    expect(text.out).toMatch(/capacity\s+\d+\/5 slots used/);
    expect(text.out).toMatch(/queue\s+\d+ pending \(critical \d+, high \d+, normal \d+, low \d+\)/);
    expect(text.out).toMatch(/leaders\s+.*scheduler \S+ \(term \d+\)/);
    // Not a terminal: no colour codes in what a script reads; FORCE_COLOR (as a terminal) has them.
    expect(text.out).not.toContain("\u001b[");
    const coloured = await oclaw(["status"], { FORCE_COLOR: "1" });
    expect(coloured.out).toContain("\u001b[1m2/2\u001b[22m");
  });

  it("nodes: a table, filters by skill and status, and JSON; node <id> in full", async () => {
    const all = await oclaw(["nodes"]);
    expect(all.code).toBe(0);
    const lines = all.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^NODE\s+STATUS\s+HEALTH\s+TASKS\s+CPU\s+SKILLS\s+LABELS\s+BREAKER\s+LAST HEARTBEAT$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["ops-w1", "ops-w2"]);
    expect(lines[1]).toMatch(/^ops-w1\s+online\s+online\s+\d\/2\s/);
    expect(lines[1]).toContain("gpu=true");

    const withSkill = await json<{ node_id: string }[]>(["nodes", "--skill", "echo"]);
    expect(withSkill.map((n) => n.node_id).sort()).toEqual(["ops-w1", "ops-w2"]);
    expect(await json<unknown[]>(["nodes", "--skill", "no-such-skill"])).toEqual([]);
    expect(await json<unknown[]>(["nodes", "--status", "offline"])).toEqual([]);

    const one = await oclaw(["node", "ops-w1"]);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/node\s+ops-w1/);
    expect(one.out).toMatch(/labels\s+gpu=true/);
    expect(one.out).toMatch(/tasks\s+\d running of 2/);
    expect(one.out).toMatch(/AT\s+EVENT\s+REASON/); // its events, "joined" at least
    const oneJson = await json<{ node_id: string; events: { kind: string }[] }>(["node", "ops-w1"]);
    expect(oneJson.events.map((e) => e.kind)).toContain("joined");
  });

  it("task --follow prints the events to the end and exits 0 on completion, 1 on failure", async () => {
    const ok = await submit({ hello: "cli" });
    const followed = await oclaw(["task", ok, "--follow"]);
    expect(followed.code, followed.err).toBe(0);
    const kinds = followed.out
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/)[1]);
    expect(kinds).toEqual(expect.arrayContaining(["submitted", "scheduled", "started", "completed"]));
    expect(kinds.at(-1)).toBe("completed");
    expect(followed.out).toContain('{"hello":"cli"}');

    // A progress bar's events, as JSON lines for a script.
    const slow = await submit({ ms: 600, steps: 3 }, "sleep");
    const events = await oclaw(["task", slow, "--follow", "--json"]);
    expect(events.code).toBe(0);
    const parsed = events.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; percent?: number });
    expect(parsed.filter((e) => e.kind === "progress").length).toBeGreaterThan(0);
    expect(parsed.at(-1)?.kind).toBe("completed");

    const bad = await submit({ document: 42 }, "word-count", ["--max-attempts", "1"]);
    const failed = await oclaw(["task", bad, "--follow"]);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(/failed\s+OC-6001/);

    // An ended task: the stream has nothing left, the exit code still says how it ended.
    expect((await oclaw(["task", bad, "--follow"])).code).toBe(1);
    expect((await oclaw(["task", ok, "--follow"])).code).toBe(0);
  }, 60_000);

  it("task <id> shows attempts and result; tasks lists and filters; cancel and retry change a task", async () => {
    const done = await submit({ n: 1 });
    await oclaw(["task", done, "--follow"]);
    const shown = await oclaw(["task", done]);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(new RegExp(`task\\s+${done}`));
    expect(shown.out).toMatch(/status\s+completed/);
    expect(shown.out).toMatch(/result\s+\{"n":1\}/);
    expect(shown.out).toMatch(/ATTEMPT\s+NODE\s+STATUS\s+STARTED\s+RAN\s+ERROR/);

    const long = await submit({ ms: 60_000, steps: 60 }, "sleep");
    const cancel = await oclaw(["cancel", long, "--reason", "operator test"]);
    expect(cancel.code, cancel.err).toBe(0);
    expect(cancel.out).toContain(`${long}: cancel requested`);
    expect((await oclaw(["task", long, "--follow"])).code).toBe(1); // it ends cancelled

    const retry = await oclaw(["retry", long, "--json"]);
    expect(retry.code, retry.err).toBe(0);
    expect(JSON.parse(retry.out)).toMatchObject({ task_id: long, status: "cancelled" });
    await oclaw(["cancel", long]);

    const page = await json<{ tasks: { task_id: string; status: string }[]; next_cursor: string | null }>([
      "tasks",
      "--status",
      "completed",
      "--limit",
      "2",
    ]);
    expect(page.tasks).toHaveLength(2);
    expect(page.tasks.every((t) => t.status === "completed")).toBe(true);
    expect(page.next_cursor).not.toBeNull();
    const next = await json<{ tasks: { task_id: string }[] }>([
      "tasks",
      "--status",
      "completed",
      "--limit",
      "2",
      "--cursor",
      page.next_cursor as string,
    ]);
    expect(next.tasks.map((t) => t.task_id)).not.toContain(page.tasks[0]?.task_id);

    const table = await oclaw(["tasks", "--skill", "sleep"]);
    expect(table.code).toBe(0);
    const rows = table.out.trimEnd().split("\n");
    expect(rows[0]).toMatch(/^TASK\s+STATUS\s+SKILL\s+PRIORITY\s+NODE\s+ATTEMPT\s+SUBMITTED\s+RAN\s+NOTE$/);
    expect(rows.slice(1).every((r) => r.split(/\s+/)[2] === "sleep")).toBe(true);
    expect(rows.map((r) => r.split(/\s+/)[0])).toContain(long);
  }, 60_000);

  // Reproduction: on a terminal, every checkpoint between two progress reports started a new bar.
  it("task --follow on a terminal keeps one progress bar, redrawn in place", async () => {
    const id = await submit({ ms: 1200, steps: 4 }, "sleep");
    // `script` gives the command a terminal of its own; its output is what a person would see.
    const cmd = [process.execPath, OCLAW_BIN, "task", id, "--follow", "--api-url", api]
      .map((a) => `'${a}'`)
      .join(" ");
    const run = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.split("\n");
    const bars = lines.filter((l) => l.includes("] "));
    expect(bars, run.stdout).toHaveLength(1);
    expect(bars[0]).toContain("100%");
    // Redrawn: several states of the bar on that one line.
    expect((bars[0]?.match(/\r\[/g) ?? []).length).toBeGreaterThan(1);
    expect(lines.some((l) => /completed/.test(l))).toBe(true);
  });

  // Reproduction: `retry` always resumed from the old checkpoint, with no way to start over.
  it("retry resumes from the last checkpoint; retry --fresh starts over", async () => {
    // 500 ms steps: both get well under way, and are cancelled together, long before they end.
    const resume = await submit({ ms: 12_000, steps: 24 }, "sleep");
    const fresh = await submit({ ms: 12_000, steps: 24 }, "sleep");
    const underWay = (id: string) =>
      waitFor(async () => {
        const t = await json<{ progress: { percent: number } | null }>(["task", id]);
        return (t.progress?.percent ?? 0) >= 10;
      });
    await Promise.all([underWay(resume), underWay(fresh)]);
    const cancels = await Promise.all([oclaw(["cancel", resume]), oclaw(["cancel", fresh])]);
    expect(cancels.map((r) => r.code)).toEqual([0, 0]);
    for (const id of [resume, fresh]) expect((await oclaw(["task", id, "--follow"])).code).toBe(1);
    const plain = await oclaw(["retry", resume]);
    expect(plain.out).toContain(`${resume}: queued again`);
    const again = await oclaw(["retry", fresh, "--fresh"]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain(`${fresh}: queued again, from the start`);
    const ends = await Promise.all([oclaw(["task", resume, "--follow"]), oclaw(["task", fresh, "--follow"])]);
    expect(ends.map((r) => r.code)).toEqual([0, 0]);
    const from = async (id: string) =>
      (await json<{ result: { resumed_from: number } }>(["task", id])).result.resumed_from;
    expect(await from(resume)).toBeGreaterThanOrEqual(3);
    expect(await from(fresh)).toBe(0);
  }, 60_000);

  // Reproduction: submit with NATS unreachable was silent ~11 s, then printed a 30-line stack
  // trace; a skill no node has made `--wait` hang without a word.
  it("submit: one line when NATS is unreachable; --wait says why a task waits", async () => {
    const down = c.spawn("submit", ["echo", "--nats-url", `nats://127.0.0.1:${await freePort()}`]);
    expect(await down.exitWithin(30_000)).toBe(1);
    expect(down.stderr().trim().split("\n")).toHaveLength(1);
    expect(down.stderr()).toMatch(
      /^oclaw submit: \[OC-2001\] cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/,
    );

    const waiting = await oclaw(["submit", "no-such-skill", "--wait", "--wait-timeout", "5s"]);
    expect(waiting.code).toBe(1);
    expect(waiting.err).toContain("waiting: no online node has skill no-such-skill");
  });

  it("errors: one line that says what to do, exit 1; bad input exits 2", async () => {
    const unknown = await oclaw(["task", "no-such-task"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err.trim().split("\n")).toHaveLength(1);
    expect(unknown.err).toContain("[OC-4006]");

    const done = (await json<{ tasks: { task_id: string }[] }>(["tasks", "--status", "completed"])).tasks[0];
    const conflict = await oclaw(["cancel", done?.task_id as string]);
    expect(conflict.code).toBe(1);
    expect(conflict.err).toContain("[OC-4009]");

    const badFilter = await oclaw(["tasks", "--status", "exploded"]);
    expect(badFilter.code).toBe(2);
    expect(badFilter.err).toContain("status");
    const badId = await oclaw(["node", "a.b"]);
    expect(badId.code).toBe(2);

    const proc = c.spawn("status", ["--api-url", "http://127.0.0.1:9"]);
    expect(await proc.exitWithin(15_000)).toBe(1);
    expect(proc.stderr()).toContain("cannot reach the coordinator at http://127.0.0.1:9");
    expect(proc.stderr()).toContain("oclaw up");

    const usage = c.spawn("tasks", ["--no-such-flag"]);
    expect(await usage.exitWithin(15_000)).toBe(2);
  });

  it("API keys: a keyed coordinator refuses the CLI without one, takes --api-key or OPENCLAW_API_KEY, and a read key cannot write", async () => {
    const WRITE = "cli-write-key-0123456789";
    const READ = "cli-read-key-0123456789";
    const keyed = (
      await c.coordinator("keyed.db", { OPENCLAW_API_KEYS: WRITE, OPENCLAW_READ_API_KEYS: READ })
    ).url;
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const proc = c.spawn(args[0] as string, [...args.slice(1), "--api-url", keyed], env);
      return { code: await proc.exitWithin(30_000), out: proc.stdout(), err: proc.stderr() };
    };
    const refused = await run(["status"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("[OC-4010]");
    expect(refused.err).toContain("--api-key");
    expect((await run(["nodes", "--api-key", "wrong-key-0123456789abc"])).err).toContain("[OC-4011]");
    expect((await run(["status", "--api-key", READ])).code).toBe(0);
    expect((await run(["nodes", "--json"], { OPENCLAW_API_KEY: WRITE })).code).toBe(0);

    const id = await submit({ ms: 60_000, steps: 60 }, "sleep");
    await waitForTaskRow(keyed, id, WRITE);
    const readOnly = await run(["cancel", id, "--api-key", READ]);
    expect(readOnly.code).toBe(1);
    expect(readOnly.err).toContain("[OC-4003]");
    const cancelled = await run(["cancel", id, "--api-key", WRITE]);
    expect(cancelled.code, cancelled.err).toBe(0);
  }, 60_000);

  it("every command has --help", async () => {
    for (const cmd of ["status", "nodes", "node", "tasks", "task", "cancel", "retry"]) {
      const proc = c.spawn(cmd, ["--help"]);
      expect(await proc.exitWithin(15_000)).toBe(0);
      expect(proc.stdout()).toContain(`Usage: oclaw ${cmd}`);
      expect(proc.stdout()).toContain("--json");
    }
  });
});
