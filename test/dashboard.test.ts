import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SKILLS, getJson, startTestCluster, type TestCluster, waitForNodes } from "./cluster.js";

/**
 * The dashboard at `/`, driven in headless Chromium (Debian's, which .ci/run installs): it shows
 * a node that joined, a task reaching completed, live events and charts, and its buttons act; a
 * task's or a node's detail opens in a side panel, by a click, the search box or its own URL.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// What the functions given to evaluate use in the page (this program has no DOM types).
declare const window: {
  innerHeight: number;
  innerWidth: number;
  location: { hash: string };
  scrollTo(x: number, y: number): void;
  getComputedStyle(e: unknown): { textOverflow: string };
};
declare const document: { elementFromPoint(x: number, y: number): unknown };

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
const taskStatus = () => page.locator('#task-fields [data-field="status"]').textContent();

/** Whether the element is on screen, uncovered, in the window as it is scrolled now. */
function onScreen(selector: string, p: Page = page): Promise<boolean> {
  return p.locator(selector).evaluate((e) => {
    const r = e.getBoundingClientRect();
    const { innerHeight, innerWidth } = window;
    if (r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth)
      return false;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit !== null && (hit === e || e.contains(hit));
  });
}

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
    await expect.poll(taskStatus, { timeout: 10_000 }).toBe("completed");
    expect(await page.locator("#task-result").textContent()).toContain("dashboard test");
    expect(await page.locator("#task-attempts tbody tr").count()).toBe(1);
    await page.locator("#detail-close").click();
    await expect.poll(() => page.locator("#detail").isVisible()).toBe(false);
    // The charts drew (uPlot puts a canvas in each).
    await expect.poll(() => page.locator("#chart-throughput canvas").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator("#chart-latency canvas").count()).toBe(1);
  });

  it("a click on Cancel cancels a running task, and Retry runs it again", async () => {
    const id = await submit({ type: "sleep", payload: { ms: 60_000, steps: 60 } });
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("running");
    // The header's counts agree with the node's row while it runs: one slot of 4 in use, one task on nodes.
    await expect
      .poll(
        async () => [
          await page.locator("#slots-count").textContent(),
          await page.locator("#running-count").textContent(),
          await nodeRow("ui-w1").locator('[data-field="slots"]').textContent(),
        ],
        { timeout: 15_000 },
      )
      .toEqual(["1/4", "1", "1/4"]);
    await taskRow(id).click();
    await expect.poll(() => page.locator("#task-id").textContent(), { timeout: 10_000 }).toBe(id);
    await expect.poll(taskStatus, { timeout: 10_000 }).toBe("running");
    // Running: Cancel shows, Retry does not (the API refuses it until the task ends).
    expect(await page.locator("#task-cancel").isVisible()).toBe(true);
    expect(await page.locator("#task-retry").isVisible()).toBe(false);
    await page.locator("#task-cancel").click();
    await expect.poll(taskStatus, { timeout: 15_000 }).toBe("cancelled");
    expect(await page.locator("#task-cancel").isVisible()).toBe(false);
    expect(await page.locator("#task-retry").isVisible()).toBe(true);
    expect((await getJson<{ status: string }>(`${api}/api/v1/tasks/${id}`)).body.status).toBe("cancelled");
    // The list redraws every 2 s.
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 10_000 })
      .toBe("cancelled");
    // Retry puts it back in the queue, and it runs again.
    await page.locator("#task-retry").click();
    await expect.poll(taskStatus, { timeout: 15_000 }).toBe("running");
    expect(await page.locator("#task-attempts tbody tr").count()).toBe(2);
    await fetch(`${api}/api/v1/tasks/${id}/cancel`, { method: "POST" });
    await page.locator("#detail-close").click();
    await expect.poll(() => page.locator("#detail").isVisible()).toBe(false);
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
  it("a click on a task opens its detail in view wherever the page is scrolled, with its id as it is and its input", async () => {
    const id = `Mixed-Case_Task-${Date.now().toString(36)}`;
    const payload = { greeting: "Hello, World", nested: { n: 1, list: ["A", "b"] } };
    expect(await submit({ type: "echo", task_id: id, payload })).toBe(id);
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("completed");
    // A short window makes a long page: the row is far below its top.
    await page.setViewportSize({ width: 1400, height: 600 });
    try {
      await taskRow(id).scrollIntoViewIfNeeded();
      await taskRow(id).click();
      await expect.poll(() => page.locator("#task-id").textContent(), { timeout: 10_000 }).toBe(id);
      expect(await page.evaluate(() => window.location.hash)).toBe(`#/tasks/${id}`);
      for (const y of [0, 100_000]) {
        await page.evaluate((to) => window.scrollTo(0, to), y);
        expect(await onScreen("#task-id"), `scrolled to ${y}`).toBe(true);
        expect(await onScreen("#detail-close"), `scrolled to ${y}`).toBe(true);
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 1000 });
    }
    // The id as submitted: innerText is what is drawn, after any CSS text-transform.
    expect(await page.locator("#task-id").innerText()).toBe(id);
    expect(await taskRow(id).locator("td").first().innerText()).toBe(id);
    // Completed: neither Cancel nor Retry (POST .../retry takes failed, timeout and cancelled only).
    await expect.poll(taskStatus, { timeout: 10_000 }).toBe("completed");
    expect(await page.locator("#task-cancel").isVisible()).toBe(false);
    expect(await page.locator("#task-retry").isVisible()).toBe(false);
    // Its input, as indented JSON, and the result the echo skill made of it.
    const input = (await page.locator("#task-payload").textContent()) ?? "";
    expect(JSON.parse(input)).toEqual(payload);
    expect(input).toBe(JSON.stringify(payload, null, 2));
    expect(await page.locator("#task-result").textContent()).toContain("Hello, World");
    // The browser's back closes it.
    await page.goBack();
    await expect.poll(() => page.locator("#detail").isVisible(), { timeout: 5_000 }).toBe(false);
    expect(await page.evaluate(() => window.location.hash)).toBe("");
  });

  it("the search box opens a task by its exact id, and says when there is none", async () => {
    const id = `Find-Me_${Date.now().toString(36)}`;
    await submit({ type: "echo", task_id: id, payload: { x: 1 } });
    await page.locator("#search-id").fill(id);
    await page.locator("#search-id").press("Enter");
    await expect.poll(() => page.locator("#task-id").textContent(), { timeout: 10_000 }).toBe(id);
    expect(await page.locator("#detail").isVisible()).toBe(true);
    expect(await page.evaluate(() => window.location.hash)).toBe(`#/tasks/${id}`);
    await page.locator("#detail-close").click();
    await expect.poll(() => page.locator("#detail").isVisible()).toBe(false);
    // Ids are case-sensitive: the same letters in another case are another (unknown) task.
    const other = id.toLowerCase();
    await page.locator("#search-id").fill(other);
    await page.locator("#search-id").press("Enter");
    await expect
      .poll(() => page.locator("#search-msg").textContent(), { timeout: 10_000 })
      .toBe(`no task ${other}`);
    expect(await page.locator("#search-msg").isVisible()).toBe(true);
    expect(await page.locator("#detail").isVisible()).toBe(false);
  });

  it("the chart legends show the latest values when the cursor is not on a chart", async () => {
    await page.mouse.move(0, 0);
    const values = () => page.locator(".u-legend .u-value").allTextContents();
    await expect.poll(async () => (await values()).length, { timeout: 15_000 }).toBe(8);
    const shown = await values();
    expect(shown).not.toContain("--");
    // The throughput chart's time and its series: the latest step's time and numbers per second.
    expect(shown[0]).toMatch(/^latest \(/);
    for (const v of shown.slice(1, 4)) expect(v).toMatch(/^\d+(\.\d+)?\/s$/);
  });

  it("a long live-feed line is shown in full, wrapped inside the panel", async () => {
    const id = `Long-Feed-Line_${"x".repeat(40)}_${Date.now().toString(36)}`.slice(0, 64);
    await submit({ type: "echo", task_id: id, payload: {} });
    const line = page.locator("#feed li", { hasText: id }).first();
    await line.waitFor({ timeout: 15_000 });
    const fits = await line.evaluate((li) => {
      const feed = li.parentElement;
      if (!feed) return null;
      return {
        li: li.scrollWidth <= li.clientWidth,
        feed: feed.scrollWidth <= feed.clientWidth,
        overflow: window.getComputedStyle(li).textOverflow,
        title: li.getAttribute("title"),
      };
    });
    expect(fits).toMatchObject({ li: true, feed: true, title: expect.stringContaining(id) });
    expect(fits?.overflow).not.toBe("ellipsis");
    expect(await line.innerText()).toContain(id);
  });

  it("says what the header's counts mean, and counts scheduled tasks as on nodes", async () => {
    const other = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      // A queue caught while tasks are scheduled (sent to a node) but not yet started.
      await other.route("**/api/v1/cluster/queue", (route) =>
        route.fulfill({
          json: {
            checked_at: new Date().toISOString(),
            pending: 4,
            scheduled: 2,
            running: 1,
            pending_by_priority: { critical: 0, high: 0, normal: 4, low: 0 },
            by_skill: [{ skill: "echo", pending: 4, scheduled: 2, running: 1 }],
          },
        }),
      );
      await other.goto(api);
      await expect.poll(() => other.locator("#running-count").textContent(), { timeout: 10_000 }).toBe("3");
      expect(await other.locator("#running-split").textContent()).toBe("(2 scheduled, 1 running)");
      expect(await other.locator("#pending-count").textContent()).toBe("4");
      const help = (await other.locator("#counts-help").textContent()) ?? "";
      expect(help).toContain("heartbeat");
      expect(help).toContain("scheduled");
      expect(await other.locator("#slots-count").locator("..").getAttribute("title")).toContain("heartbeat");
      expect(await other.locator("#nodes thead th", { hasText: "running / slots" }).count()).toBe(1);
    } finally {
      await other.close();
    }
  });

  it("the node view shows a node's status, health, load, skills, labels, zone, breaker, tasks and events", async () => {
    const node = "Edge-Node_B7";
    await c.worker(node, EXAMPLE_SKILLS, [
      "--max-concurrent-tasks",
      "2",
      "--labels",
      "rack=R2",
      "--zone",
      "eu-1",
    ]);
    await expect
      .poll(() => nodeRow(node).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("online");
    expect(await nodeRow(node).locator("td").first().innerText()).toBe(node);
    const id = await submit({ type: "echo", payload: { on: node }, constraints: { node } });
    await expect
      .poll(() => taskRow(id).locator('[data-field="status"]').textContent(), { timeout: 15_000 })
      .toBe("completed");
    await nodeRow(node).locator("td").nth(2).click();
    await expect.poll(() => page.locator("#node-id").textContent(), { timeout: 10_000 }).toBe(node);
    expect(await page.locator("#node-id").innerText()).toBe(node);
    expect(await page.evaluate(() => window.location.hash)).toBe(`#/nodes/${node}`);
    expect(await onScreen("#node-id")).toBe(true);
    const field = (name: string) => page.locator(`#node-fields [data-field="${name}"]`).textContent();
    await expect.poll(() => field("status"), { timeout: 10_000 }).toBe("online");
    expect(await field("health")).toMatch(/^online/);
    expect(await field("zone")).toBe("eu-1");
    expect(await field("labels")).toBe("rack=R2");
    expect(await field("breaker")).toMatch(/^closed/);
    expect(await field("running / slots")).toMatch(/^0\/2/);
    expect(await field("load")).toMatch(/cpu \d+%, memory \d+%, disk \d+%/);
    expect(await page.locator("#node-skills li[data-skill]").allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^echo/), expect.stringMatching(/^sleep/)]),
    );
    expect(await page.locator("#node-events tbody tr[data-kind]").allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining("joined")]),
    );
    // Its tasks: the one pinned to it, a link to that task's detail; back returns to the node.
    const row = page.locator(`#node-tasks tbody tr[data-task="${id}"]`);
    await expect
      .poll(() => row.locator('[data-field="status"]').textContent(), { timeout: 10_000 })
      .toBe("completed");
    await row.locator("a").click();
    await expect.poll(() => page.locator("#task-id").textContent(), { timeout: 10_000 }).toBe(id);
    expect(await page.locator("#node-detail").isVisible()).toBe(false);
    expect(await page.locator('#task-fields [data-field="node"]').textContent()).toBe(node);
    await page.goBack();
    await expect.poll(() => page.locator("#node-id").textContent(), { timeout: 5_000 }).toBe(node);
    expect(await page.locator("#task-detail").isVisible()).toBe(false);
    // Close goes back past both to the lists.
    await page.locator("#detail-close").click();
    await expect.poll(() => page.locator("#detail").isVisible(), { timeout: 5_000 }).toBe(false);
    expect(await page.evaluate(() => window.location.hash)).toBe("");
  });

  it("opens a task or a node from its own URL, and says when there is no such task", async () => {
    const id = `Linked_Task-${Date.now().toString(36)}`;
    await submit({ type: "echo", task_id: id, payload: { linked: true } });
    const other = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await other.goto(`${api}/#/tasks/${encodeURIComponent(id)}`);
      await expect.poll(() => other.locator("#task-id").innerText(), { timeout: 10_000 }).toBe(id);
      await expect
        .poll(() => other.locator("#task-payload").textContent(), { timeout: 10_000 })
        .toContain('"linked": true');
      expect(await onScreen("#task-id", other)).toBe(true);
      await other.goto(`${api}/#/nodes/${encodeURIComponent("Edge-Node_B7")}`);
      await expect
        .poll(() => other.locator("#node-id").innerText(), { timeout: 10_000 })
        .toBe("Edge-Node_B7");
      await expect
        .poll(() => other.locator('#node-fields [data-field="zone"]').textContent(), { timeout: 10_000 })
        .toBe("eu-1");
      expect(await other.locator("#task-detail").isVisible()).toBe(false);
      // Close on a detail opened by its URL shows the lists at `/`.
      await other.locator("#detail-close").click();
      await expect.poll(() => other.locator("#detail").isVisible()).toBe(false);
      expect(await other.evaluate(() => window.location.hash)).toBe("");
      await other.goto(`${api}/#/tasks/No-Such_Task`);
      await expect
        .poll(() => other.locator("#task-missing").textContent(), { timeout: 10_000 })
        .toBe("no task No-Such_Task");
    } finally {
      await other.close();
    }
  });
});
