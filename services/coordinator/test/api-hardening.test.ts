import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger } from "@openclaw/log";
import { waitFor } from "@openclaw/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import { MAX_STREAMS_PER_CLIENT } from "../src/http/sse.js";
import { nodeRecord, tempDir } from "./fixtures.js";
import { storeEvents, TaskPlay, taskSpec } from "./task-fixtures.js";

/** Fails a promise that has not settled within `ms` (a hang is the bug some of these tests are about). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe("API gaps", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  let base: string;
  const streams: AbortController[] = [];

  async function start(options: { maxStreamsPerClient?: number } = {}) {
    api = buildApi({ store, log: silentLogger(), instance: "c1", ...options });
    await api.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  }

  /** Opens an event stream and resolves once its headers are in. */
  async function openStream(path: string): Promise<Response> {
    const abort = new AbortController();
    streams.push(abort);
    return fetch(`${base}${path}`, { signal: abort.signal });
  }

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    store.applyBatch([nodeRecord("w1", { skills: ["python"] })], []);
    const play = new TaskPlay(taskSpec("t1"));
    storeEvents(store, play.submitted());
    const done = new TaskPlay(taskSpec("done"));
    storeEvents(store, done.submitted(), done.scheduled("w1"), done.started(), done.completed({ ok: true }));
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.abort();
    await api?.close();
    store.close();
    tmp.cleanup();
  });

  describe("unknown query parameters (?statsu=offline listed every node)", () => {
    it("are refused with 400 OC-4000 naming the parameter, on every route", async () => {
      await start();
      const routes: [string, string][] = [
        ["GET", "/api/v1/nodes"],
        ["GET", "/api/v1/nodes/online"],
        ["GET", "/api/v1/nodes/skills/python"],
        ["GET", "/api/v1/nodes/w1"],
        ["GET", "/api/v1/nodes/w1/health"],
        ["GET", "/api/v1/nodes/w1/events"],
        ["POST", "/api/v1/nodes/w1/drain"],
        ["POST", "/api/v1/nodes/w1/undrain"],
        ["GET", "/api/v1/cluster/health"],
        ["GET", "/api/v1/cluster/queue"],
        ["GET", "/api/v1/cluster/series"],
        ["GET", "/api/v1/cluster/leaders"],
        ["GET", "/api/v1/cluster/feed"],
        ["POST", "/api/v1/cluster/elect"],
        ["GET", "/api/v1/tasks"],
        ["GET", "/api/v1/tasks/t1"],
        ["GET", "/api/v1/tasks/t1/events"],
        ["GET", "/api/v1/tasks/t1/result"],
        ["POST", "/api/v1/tasks/t1/cancel"],
        ["POST", "/api/v1/tasks/t1/retry"],
        ["GET", "/health"],
        ["GET", "/api/v1/health"],
        ["GET", "/metrics"],
        ["GET", "/api/v1/metrics"],
      ];
      for (const [method, url] of routes) {
        const res = await api.inject({ method: method as "GET" | "POST", url: `${url}?statsu=offline` });
        expect([method, url, res.statusCode]).toEqual([method, url, 400]);
        expect(res.json(), url).toMatchObject({ code: "OC-4000", field: "statsu" });
      }
    });

    it("still take the parameters they document", async () => {
      await start();
      const ok = [
        "/api/v1/nodes?status=online&limit=5&offset=0",
        "/api/v1/nodes/skills/python?status=any&limit=5",
        "/api/v1/nodes/w1/events?limit=10",
        "/api/v1/tasks?status=pending&limit=5",
        "/api/v1/tasks/t1/result?wait=0",
      ];
      for (const url of ok) expect((await api.inject({ url })).statusCode, url).toBeLessThan(300);
    });
  });

  describe("ids over 500 characters (fastify's 414 echoed the URL, without an OC- code)", () => {
    it("are 400 OC-4001 in the API's shape, without the URL", async () => {
      await start();
      const long = "a".repeat(600);
      for (const url of [
        `/api/v1/nodes/${long}`,
        `/api/v1/nodes/${long}/health`,
        `/api/v1/nodes/skills/${long}`,
        `/api/v1/tasks/${long}`,
        `/api/v1/tasks/${long}/events`,
      ]) {
        const res = await api.inject({ url });
        expect(res.statusCode, url).toBe(400);
        expect(res.json()).toMatchObject({ statusCode: 400, error: "Bad Request", code: "OC-4001" });
        expect(res.body).not.toContain("aaaaaaaaaa");
      }
      // The longest the router takes goes on to the id check, which names the field.
      const res = await api.inject({ url: `/api/v1/nodes/${"a".repeat(500)}` });
      expect(res.json()).toMatchObject({ code: "OC-4001", field: "id" });
    });

    it("a path that does not decode (%zz) is 400 OC-4000 without the URL", async () => {
      await start();
      const res = await api.inject({ url: "/api/v1/nodes/%zz-secret" });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: "OC-4000" });
      expect(res.body).not.toContain("secret");
    });

    it("a URL over 16 KB is 431 OC-4000", async () => {
      await start();
      const res = await fetch(`${base}/api/v1/nodes?status=${"x".repeat(20_000)}`);
      expect(res.status).toBe(431);
      expect(await res.json()).toMatchObject({ statusCode: 431, code: "OC-4000" });
    });
  });

  it("a body over the limit of a route other than POST /api/v1/tasks is 400 OC-4000 about the body, not the task payload (a 1 MB drain reason got OC-4002 field payload)", async () => {
    await start();
    const res = await api.inject({
      method: "POST",
      url: "/api/v1/nodes/w1/drain",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ reason: "x".repeat(1024 * 1024) }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "OC-4000", field: "body" });
    expect(res.json().message).not.toContain("payload");
  });

  describe("HEAD on the event streams (never answered)", () => {
    it("answers at once with a GET's headers and opens no stream", async () => {
      await start({ maxStreamsPerClient: 1 });
      for (const path of ["/api/v1/cluster/feed", "/api/v1/tasks/t1/events", "/api/v1/tasks/t1/events"]) {
        const res = await within(5000, `HEAD ${path}`, fetch(`${base}${path}`, { method: "HEAD" }));
        expect(res.status, path).toBe(200);
        expect(res.headers.get("content-type")).toContain("text/event-stream");
      }
      const unknown = await within(
        5000,
        "HEAD unknown task",
        fetch(`${base}/api/v1/tasks/nope/events`, { method: "HEAD" }),
      );
      expect(unknown.status).toBe(404);
    });
  });

  describe("Connection: close (the stream forced keep-alive)", () => {
    it("is kept: the answer says close, and the connection ends with the stream", async () => {
      await start();
      const closed = new Promise<{ connection: string | undefined; body: string }>((resolve, reject) => {
        const req = request(
          `${base}/api/v1/tasks/done/events`,
          { headers: { connection: "close" } },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
              body += chunk;
            });
            res.on("end", () => {
              const connection = res.headers.connection;
              res.socket.once("close", () => resolve({ connection, body }));
              if (res.socket.destroyed) resolve({ connection, body });
            });
          },
        );
        req.on("error", reject);
        req.end();
      });
      const { connection, body } = await within(5000, "the stream's connection to close", closed);
      expect(connection).toBe("close");
      expect(body).toContain("event: completed");
    });

    it("a request that keeps the connection alive gets keep-alive", async () => {
      await start();
      const res = await openStream("/api/v1/cluster/feed");
      expect(res.headers.get("connection")).toBe("keep-alive");
    });
  });

  describe("open event streams per client address (no cap)", () => {
    it(`are at most ${MAX_STREAMS_PER_CLIENT} by default`, () => {
      expect(MAX_STREAMS_PER_CLIENT).toBe(20);
    });

    it("beyond the cap: 429 OC-4030 with Retry-After, for both stream routes; a closed stream frees its slot", async () => {
      await start({ maxStreamsPerClient: 3 });
      const open = [
        await openStream("/api/v1/cluster/feed"),
        await openStream("/api/v1/cluster/feed"),
        await openStream("/api/v1/tasks/t1/events"),
      ];
      for (const res of open) expect(res.status).toBe(200);
      for (const path of ["/api/v1/cluster/feed", "/api/v1/tasks/t1/events"]) {
        const refused = await fetch(`${base}${path}`);
        expect(refused.status, path).toBe(429);
        expect(refused.headers.get("retry-after")).toBe("5");
        expect(await refused.json()).toMatchObject({ statusCode: 429, code: "OC-4030" });
      }
      // HEAD opens nothing, so it is answered even now.
      expect((await fetch(`${base}/api/v1/cluster/feed`, { method: "HEAD" })).status).toBe(200);
      streams[0]?.abort();
      const again = await waitFor(async () => {
        const res = await openStream("/api/v1/cluster/feed");
        if (res.status === 200) return res;
        await res.body?.cancel();
        return undefined;
      });
      expect(again.status).toBe(200);
    });
  });
});
