import { waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/**
 * `health.unreachable_timeout`: a node whose heartbeats are late is pinged, and if nobody answers
 * on its subject (its process died, taking its connection with it) it is offline at once. The
 * heartbeat timeout here is a minute, so anything that goes offline sooner went by the ping.
 */
const HEARTBEAT_TIMEOUT_MS = 60_000;

let c: TestCluster;
let api: string;

interface NodeEventRow {
  kind: string;
  at: string;
  reason?: string;
  last_seen?: string;
  previous?: string;
}
const eventsOf = async (id: string) =>
  (await getJson<NodeEventRow[]>(`${api}/api/v1/nodes/${id}/events`)).body;

beforeAll(async () => {
  c = await startTestCluster();
  const slowTimeout = {
    OPENCLAW_HEARTBEAT_TIMEOUT: `${HEARTBEAT_TIMEOUT_MS}ms`,
    OPENCLAW_UNREACHABLE_TIMEOUT: "500ms",
  };
  c.spawn("registry");
  c.spawn("health-monitor", [], slowTimeout);
  // Ticks far apart: a task that moves before one came moved because its node went away.
  c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "60s" });
  api = (await c.coordinator()).url;
});

afterAll(async () => {
  await c?.stop();
});

describe("a node nobody answers for (unreachable_timeout)", () => {
  it("a SIGKILLed worker is offline within seconds, a frozen one stays suspect, and its task moves", async () => {
    const frozen = await c.worker("w-frozen", EXAMPLE_SKILLS);
    const victim = await c.worker("w-victim", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "1"]);
    await c.worker("w-spare", EXAMPLE_SKILLS);
    await waitForNodes(api, (n) => n.filter((x) => x.status === "online").length === 3);

    const submitted = await fetch(`${api}/api/v1/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "sleep",
        payload: { ms: 60_000, steps: 600 },
        constraints: { prefer_node: "w-victim" },
      }),
    });
    const id = String(((await submitted.json()) as { task_id: string }).task_id);
    await waitForTask(id, (t) => t.status === "running" && t.assigned_node === "w-victim");

    // Frozen first: its connection stays up but it answers nothing; it must only go suspect.
    frozen.child.kill("SIGSTOP");
    try {
      await waitForNodes(api, (n) => n.some((x) => x.node_id === "w-frozen" && x.health === "suspect"));
      await victim.signal("SIGKILL");
      await waitForNodes(
        api,
        (n) => n.some((x) => x.node_id === "w-victim" && x.status === "offline"),
        10_000,
      );
      // Late for longer than the victim, yet not offline: a ping that times out proves nothing.
      const frozenNow = (await getJson<{ health: string }>(`${api}/api/v1/nodes/w-frozen`)).body;
      expect(frozenNow.health).toBe("suspect");
    } finally {
      frozen.child.kill("SIGCONT");
    }

    const [offline] = await eventsOf("w-victim");
    expect(offline).toMatchObject({ kind: "offline", reason: "unreachable" });
    const silence = Date.parse(offline?.at ?? "") - Date.parse(offline?.last_seen ?? "");
    expect(silence).toBeGreaterThanOrEqual(500);
    expect(silence).toBeLessThan(HEARTBEAT_TIMEOUT_MS / 2);

    // The task moves to a live node at once: long before the heartbeat timeout or a scheduler tick.
    const moved = await waitForTask(
      id,
      (t) => t.status === "running" && t.assigned_node !== "w-victim",
      HEARTBEAT_TIMEOUT_MS / 3,
    );
    expect(moved.attempts.map((a) => a.status)).toEqual(["lost", "running"]);

    // The frozen worker resumes without ever having been offline.
    await waitForNodes(api, (n) => n.some((x) => x.node_id === "w-frozen" && x.health === "online"));
    expect((await eventsOf("w-frozen")).map((e) => e.kind)).toEqual(["online", "suspect", "joined"]);
    await fetch(`${api}/api/v1/tasks/${id}/cancel`, { method: "POST" });
  }, 90_000);
});

interface TaskRow {
  status: string;
  assigned_node: string | null;
  attempts: { node_id: string; status: string }[];
}

async function waitForTask(id: string, ok: (t: TaskRow) => boolean, timeout = 15_000): Promise<TaskRow> {
  return waitFor(
    async () => {
      const t = (await getJson<TaskRow>(`${api}/api/v1/tasks/${id}`)).body;
      return ok(t) ? t : undefined;
    },
    { timeout, message: `task ${id} never matched` },
  );
}
