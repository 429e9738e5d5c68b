import { OpenClawCluster } from "@openclaw/cluster";
import { waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

let c: TestCluster;
let a: string;
let b: string;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
  const [ca, cb] = await Promise.all([c.coordinator("a.db"), c.coordinator("b.db")]);
  a = ca.url;
  b = cb.url;
  await c.worker("w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4"]);
  for (const url of [a, b])
    await waitForNodes(url, (n) => n.some((x) => x.node_id === "w1" && x.status === "online"));
});

afterAll(async () => {
  await OpenClawCluster.closeAll();
  await c?.stop();
});

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("idempotency keys end to end", () => {
  // The reproduction: two concurrent submissions with one key ran two tasks (each coordinator
  // checked the key against its own read model, which had seen neither).
  it("one key submitted through two coordinators at once, with two task ids, gives one task, and both answers name it", async () => {
    const key = "invoice-2026-12";
    const [ra, rb] = await Promise.all([
      post(a, { task_id: "via-a", type: "echo", payload: { from: "a" }, idempotency_key: key }),
      post(b, { task_id: "via-b", type: "echo", payload: { from: "b" }, idempotency_key: key }),
    ]);
    expect([200, 202]).toContain(ra.status);
    expect([200, 202]).toContain(rb.status);
    const winner = String(ra.body.task_id);
    expect(["via-a", "via-b"]).toContain(winner);
    expect(rb.body.task_id).toBe(winner);
    const loser = winner === "via-a" ? "via-b" : "via-a";
    const result = await getJson<Record<string, unknown>>(`${a}/api/v1/tasks/${winner}/result?wait=20s`);
    expect(result.body).toMatchObject({ status: "completed", result: { from: winner.slice(-1) } });
    // The loser was never a task, on either coordinator; each lists one task with the key.
    for (const url of [a, b]) {
      await waitFor(async () => (await getJson(`${url}/api/v1/tasks/${winner}`)).status === 200);
      expect((await getJson(`${url}/api/v1/tasks/${loser}`)).status).toBe(404);
      const list = await getJson<{ tasks: { task_id: string }[] }>(`${url}/api/v1/tasks?limit=100`);
      expect(list.body.tasks.filter((t) => t.task_id.startsWith("via-")).map((t) => t.task_id)).toEqual([
        winner,
      ]);
    }
    // Submitted again later, through either, the key still gives that task.
    const again = await post(b, { task_id: "via-b-2", type: "echo", idempotency_key: key });
    expect(again).toMatchObject({ status: 200, body: { task_id: winner, status: "completed" } });
  });

  it("the SDK and HTTP with one key at once give one task", async () => {
    const sdk = new OpenClawCluster({ natsUrl: c.nats.url, prefix: c.prefix });
    const key = "mixed-key";
    const [job, http] = await Promise.all([
      sdk.submitTask({ id: "mix-sdk", type: "echo", payload: "sdk", idempotencyKey: key }),
      post(a, { task_id: "mix-http", type: "echo", payload: "http", idempotency_key: key }),
    ]);
    expect(http.body.task_id).toBe(job.id);
    const done = await job.wait();
    expect(done.data).toBe(job.id === "mix-sdk" ? "sdk" : "http");
  });
});
