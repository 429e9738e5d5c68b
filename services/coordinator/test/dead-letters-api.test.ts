import { deadLetter } from "@openclaw/bus";
import { type NatsServer, startNatsServer, uniquePrefix } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEAD_LETTER_PREVIEW_BYTES } from "../src/http/schemas.js";
import { tempDir } from "./fixtures.js";
import { Harness } from "./harness.js";

let server: NatsServer;
let h: Harness;
const tmp = tempDir();

beforeAll(async () => {
  server = await startNatsServer();
  h = new Harness(server.url, uniquePrefix());
});
afterAll(async () => {
  await h?.closeAll();
  tmp.cleanup();
  await server?.stop();
});

// Hardening item 4: a poison message looped in the scheduler's inbox, and nothing kept it for an
// operator to look at. Now it is given up and kept; this is how an operator lists them.
describe("GET /api/v1/cluster/dead-letters", () => {
  it("lists the messages services gave up on, newest first, with subject, reason, time and a preview", async () => {
    const ctx = await h.context({ dbPath: tmp.file("c.db") });
    const { url } = await h.coordinator(ctx);
    const get = (query = "") => fetch(`${url}/api/v1/cluster/dead-letters${query}`);
    expect(await (await get()).json()).toEqual({ dead_letters: [] });

    const small = new TextEncoder().encode('{"v":1,"bad":true}');
    const big = new TextEncoder().encode(`"${"x".repeat(DEAD_LETTER_PREVIEW_BYTES + 100)}"`);
    const { names } = ctx.cluster;
    for (const [data, reason] of [
      [small, "invalid: task.payload: nests deeper than 64 levels"],
      [big, "failing: KV timeout"],
    ] as const) {
      expect(
        await deadLetter(ctx.cluster, {
          source: "scheduler",
          subject: names.subjects.schedSubmit,
          reason,
          data,
          deliveries: 1,
        }),
      ).toBe(true);
    }

    const res = await get();
    expect(res.status).toBe(200);
    const body = (await res.json()) as { dead_letters: Record<string, unknown>[] };
    expect(body.dead_letters).toHaveLength(2);
    const [newest, oldest] = body.dead_letters;
    expect(newest).toMatchObject({
      source: "scheduler",
      subject: names.subjects.schedSubmit,
      reason: "failing: KV timeout",
      deliveries: 1,
      size: big.length,
      data_truncated: true,
    });
    expect(String(newest?.data)).toHaveLength(DEAD_LETTER_PREVIEW_BYTES);
    expect(oldest).toMatchObject({
      reason: "invalid: task.payload: nests deeper than 64 levels",
      data: '{"v":1,"bad":true}',
      size: small.length,
      data_truncated: false,
    });
    expect(Date.parse(oldest?.at as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(((await (await get("?limit=1")).json()) as { dead_letters: unknown[] }).dead_letters).toHaveLength(
      1,
    );
    const bad = await get("?limit=0");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "OC-4000", field: "limit" });
  });
});
