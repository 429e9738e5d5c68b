import type { Cluster } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { names, type TaskSubmit } from "@openclaw/protocol";
import { type NatsServer, startNatsServer, uniquePrefix } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsTaskBus } from "../src/task-bus.js";
import { tempDir } from "./fixtures.js";
import { Harness } from "./harness.js";

/** `{"a":{"a":...1...}}`, `levels` deep, as text (JSON.stringify itself overflows near 10,000). */
function deepJson(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;
}

let server: NatsServer;
let h: Harness;
let url: string;
const tmp = tempDir();

beforeAll(async () => {
  server = await startNatsServer();
  h = new Harness(server.url, uniquePrefix());
  url = (await h.coordinator(await h.context({ dbPath: tmp.file("c.db") }))).url;
});
afterAll(async () => {
  await h?.closeAll();
  tmp.cleanup();
  await server?.stop();
});

const post = (body: string) =>
  fetch(`${url}/api/v1/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body });

describe("deep JSON on POST /api/v1/tasks", () => {
  // Reproduction (hardening item 5): a payload or metadata nested 5,000+ deep answered 500, or
  // 503 "try again", for what is the client's mistake.
  it("is refused with 400 OC-4000 naming the field, never a retryable 5xx", async () => {
    for (const levels of [65, 5000, 20_000, 100_000]) {
      for (const field of ["payload", "metadata"]) {
        const value = field === "metadata" ? `{"m":${deepJson(levels - 1)}}` : deepJson(levels);
        const res = await post(`{"type":"echo","${field}":${value}}`);
        expect({ levels, field, status: res.status }).toEqual({ levels, field, status: 400 });
        expect(await res.json()).toMatchObject({
          code: "OC-4000",
          field,
          message: expect.stringContaining("nests deeper than 64 levels"),
        });
      }
    }
    const ok = await post(`{"type":"echo","payload":${deepJson(64)},"metadata":{"m":${deepJson(63)}}}`);
    expect(ok.status).toBe(202);
  });

  it("limits metadata to 64 KiB of JSON (400 OC-4000, field metadata)", async () => {
    const res = await post(JSON.stringify({ type: "echo", metadata: { text: "x".repeat(70_000) } }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: "OC-4000",
      field: "metadata",
      message: expect.stringContaining("the limit is 65536"),
    });
  });
});

describe("the task bus", () => {
  // Reproduction: a body that could not be encoded (JSON.stringify's RangeError) was caught with
  // the publish's failures and answered 503 "try again".
  it("reports a body that cannot be encoded as bad input (OC-2002), not as NATS being unavailable", async () => {
    let published = 0;
    const cluster = {
      names: names("oc"),
      js: {
        publish: async () => {
          published += 1;
        },
      },
    } as unknown as Cluster;
    const bus = natsTaskBus(cluster, silentLogger(), { service: "coordinator", instance: "c1" });
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const msg = { task: { task_id: "t-1", payload: deep } } as unknown as TaskSubmit;
    await expect(bus.submit(msg)).rejects.toMatchObject({ code: "OC-2002" });
    expect(published).toBe(0);
  });
});
