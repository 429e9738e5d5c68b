import { silentLogger } from "@openclaw/log";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import type { AuthSettings } from "../src/http/auth.js";
import { tempDir } from "./fixtures.js";
import { DEFAULTS } from "./task-fixtures.js";

const WRITE = "write-key-0123456789abcdef";
const READ = "read-key-0123456789abcdef";

describe("API keys", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api | undefined;

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
  });
  afterEach(async () => {
    await api?.close();
    store.close();
    tmp.cleanup();
  });

  function build(auth?: AuthSettings): Api {
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      tasks: { defaults: DEFAULTS, maxPending: 10_000 },
      ...(auth ? { auth } : {}),
    });
    return api;
  }

  async function call(method: "GET" | "POST", url: string, headers: Record<string, string> = {}) {
    const res = await (api as Api).inject({
      method,
      url,
      headers: { ...headers, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
      ...(method === "POST" ? { payload: "{}" } : {}),
    });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  }
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  // A write that gets past the keys answers 503 here: this API has no NATS behind it.
  const WRITE_URL = "/api/v1/cluster/elect";
  const READ_URL = "/api/v1/nodes";

  it("without keys configured, everything is open", async () => {
    build({ writeKeys: [], readKeys: [], openReads: false });
    expect((await call("GET", READ_URL)).status).toBe(200);
    expect((await call("POST", WRITE_URL)).status).toBe(503);
  });

  it("no key: 401 OC-4010 that says how to send one; a wrong key: 401 OC-4011", async () => {
    build({ writeKeys: [WRITE], readKeys: [READ], openReads: false });
    for (const [method, url] of [
      ["GET", READ_URL],
      ["POST", WRITE_URL],
    ] as const) {
      const none = await call(method, url);
      expect(none.status).toBe(401);
      expect(none.body).toMatchObject({ statusCode: 401, code: "OC-4010" });
      expect(none.body.message).toContain("Authorization: Bearer <key>");
      expect(none.headers["www-authenticate"]).toContain("Bearer");
      const wrong = await call(method, url, bearer("not-a-key-0123456789"));
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe("OC-4011");
    }
    // Not even an unknown route tells a caller without a key anything.
    expect((await call("GET", "/api/v1/nope")).status).toBe(401);
  });

  it("a read-only key reads and gets 403 OC-4003 on writes; a write key does both; either header works", async () => {
    build({ writeKeys: [WRITE], readKeys: [READ], openReads: false });
    expect((await call("GET", READ_URL, bearer(READ))).status).toBe(200);
    expect((await call("GET", READ_URL, { "x-api-key": READ })).status).toBe(200);
    const refused = await call("POST", WRITE_URL, bearer(READ));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "OC-4003" });
    expect(refused.body.message).toContain("may only read");

    expect((await call("GET", READ_URL, bearer(WRITE))).status).toBe(200);
    expect((await call("POST", WRITE_URL, bearer(WRITE))).status).toBe(503);
    expect((await call("POST", WRITE_URL, { "x-api-key": WRITE })).status).toBe(503);
  });

  it("open_reads lets reads through without a key, never writes", async () => {
    build({ writeKeys: [WRITE], readKeys: [], openReads: true });
    expect((await call("GET", READ_URL)).status).toBe(200);
    expect((await call("GET", "/api/v1/cluster/queue")).status).toBe(200);
    expect((await call("POST", WRITE_URL)).status).toBe(401);
    expect((await call("POST", "/api/v1/tasks")).status).toBe(401);
  });

  it("health endpoints and the API's description stay open for load balancers and readers", async () => {
    build({ writeKeys: [WRITE], readKeys: [], openReads: false });
    expect((await call("GET", "/health")).status).toBe(200);
    expect((await call("GET", "/api/v1/health")).status).toBe(200);
    expect((await call("GET", "/api/v1/cluster/health")).status).toBe(200);
    expect((await call("GET", "/openapi.json")).status).toBe(200);
    const page = await (api as Api).inject({ method: "GET", url: "/docs/" });
    expect(page.statusCode).toBe(200);
    expect((await call("GET", "/api/v1/cluster/healthz")).status).toBe(401);
    // Other spellings of an open route are open too; the query string changes nothing: it gets
    // past the key check to the route's own (strict) query validation, whatever it names.
    expect((await call("GET", "/health/")).status).toBe(200);
    expect((await call("GET", "/api/v1/cluster/%68ealth")).status).toBe(200);
    expect(await call("GET", "/health?x=/api/v1/nodes")).toMatchObject({
      status: 400,
      body: { code: "OC-4000" },
    });
    expect((await call("GET", "/api/v1/nodes?x=/health")).status).toBe(401);
    expect((await call("GET", "/docs/../api/v1/nodes")).status).not.toBe(200);
  });
});
