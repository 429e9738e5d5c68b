import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/**
 * The dashboard at `/`, driven in headless Chromium (Debian's, which .ci/run installs): it shows
 * a node that joined, a task reaching completed, live events and charts, and its buttons act.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let c: TestCluster;
let api: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  c = await startTestCluster();
  c.spawn("registry");
  c.spawn("health-monitor");
  c.spawn("scheduler", [], { OPENCLAW_SCHEDULER_INTERVAL: "200ms" });
  api = (await c.coordinator()).url;
  await c.worker("ui-w1", EXAMPLE_SKILLS, ["--max-concurrent-tasks", "4", "--labels", "gpu=true"]);
  await waitForNodes(api, (n) => n.some((x) => x.node_id === "ui-w1" && x.status === "online"));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(api);
  // A script error would leave the page half drawn: fail with it.
  expect(errors).toEqual([]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await c?.stop();
});

async function submit(body: unknown): Promise<string> {
  const res = await fetch(`${api}/api/v1/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { task_id: string }).task_id;
}

const nodeRow = (id: string) => page.locator(`#nodes tbody tr[data-node="${id}"]`);
const taskRow = (id: string) => page.locator(`#tasks tbody tr[data-task="${id}"]`);

describe("the dashboard", () => {
  it("shows the node that joined, with its status, skills and labels", async () => {
    await expect
      .poll(() => nodeRow("ui-w1").locator('[data-field="status"]').textContent(), { timeout: 10_000 })
      .toBe("online");
    const row = (await nodeRow("ui-w1").textContent()) ?? "";
    expect(row).toContain("echo");
    expect(row).toContain("gpu=true");
    expect(row).toContain("0/4");
    await expect.poll(() => page.locator("#online-count").textContent(), { timeout: 10_000 }).toBe("1/1");
  });

  it("shows a submitted task reaching completed, in the task list, the live feed and the charts", async () => {
    const id = await submit({ type: "echo", payload: { from: "dashboard test" } });
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("completed");
    await expect
      .poll(() => page.locator("#feed li").allTextContents(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`completed ${id}`))]));
    // Its detail: attempts and result.
    await taskRow(id).click();
    await expect
      .poll(() => page.locator('#task-fields [data-field="status"]').textContent(), { timeout: 10_000 })
      .toBe("completed");
    expect(await page.locator('#task-fields [data-field="result"]').textContent()).toContain(
      "dashboard test",
    );
    expect(await page.locator("#task-attempts tbody tr").count()).toBe(1);
    // The charts drew (uPlot puts a canvas in each).
    await expect.poll(() => page.locator("#chart-throughput canvas").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("#chart-latency canvas").count()).toBe(1);
  });

  it("a click on Cancel cancels a running task, and Retry runs it again", async () => {
    const id = await submit({ type: "sleep", payload: { ms: 60_000, steps: 60 } });
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("running");
    await taskRow(id).click();
    await expect.poll(() => page.locator("#task-id").textContent(), { timeout: 10_000 }).toBe(id);
    await page.locator("#task-cancel").click();
    await expect
      .poll(() => page.locator('#task-fields [data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("cancelled");
    expect((await getJson<{ status: string }>(`${api}/api/v1/tasks/${id}`)).body.status).toBe("cancelled");
    // The list redraws every 2 s.
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 10_000 })
      .toBe("cancelled");
    // Retry puts it back in the queue, and it runs again.
    await page.locator("#task-retry").click();
    await expect
      .poll(() => page.locator('#task-fields [data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("running");
    expect(await page.locator("#task-attempts tbody tr").count()).toBe(2);
    await fetch(`${api}/api/v1/tasks/${id}/cancel`, { method: "POST" });
  });

  it("Drain and Undrain take effect on the node", async () => {
    await nodeRow("ui-w1").locator('button[data-action="drain"]').click();
    await expect
      .poll(() => nodeRow("ui-w1").locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("maintenance");
    expect((await getJson<{ draining: boolean }>(`${api}/api/v1/nodes/ui-w1`)).body.draining).toBe(true);
    await nodeRow("ui-w1").locator('button[data-action="undrain"]').click();
    await expect
      .poll(() => nodeRow("ui-w1").locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("online");
  });
});
