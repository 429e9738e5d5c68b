import SwaggerParser from "@apidevtools/swagger-parser";
import { silentLogger } from "@openclaw/log";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import { tempDir } from "./fixtures.js";
import { DEFAULTS } from "./task-fixtures.js";

describe("OpenAPI", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  /** Every route the API serves, as `METHOD /path/{param}`, seen as fastify adds them. */
  const routes = new Set<string>();

  beforeAll(async () => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      version: "1.2.3",
      tasks: { defaults: DEFAULTS, maxPending: 10_000 },
    });
    api.addHook("onRoute", (r) => {
      const methods = Array.isArray(r.method) ? r.method : [r.method];
      for (const m of methods) {
        if (m === "HEAD") continue;
        routes.add(`${m} ${r.url.replace(/:(\w+)/g, "{$1}")}`);
      }
    });
    await api.ready();
  });
  afterAll(async () => {
    await api.close();
    store.close();
    tmp.cleanup();
  });

  it("serves a valid OpenAPI document at /openapi.json that covers every route", async () => {
    const res = await api.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.info).toMatchObject({ title: "OpenClaw Cluster API", version: "1.2.3" });
    // Throws, naming the problem, if the document is not valid OpenAPI.
    await SwaggerParser.validate(structuredClone(doc));

    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>))
      for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    // Not part of the described API: the page, the document itself, and Prometheus' text format.
    const undescribed = (r: string) =>
      r.includes("/docs") ||
      r.includes("/ui/") ||
      r === "GET /" ||
      r.endsWith("/openapi.json") ||
      r.endsWith("/metrics") ||
      r.endsWith("/cluster/feed");
    const served = [...routes].filter((r) => !undescribed(r));
    expect(served.length).toBeGreaterThan(15);
    expect([...documented].sort()).toEqual(served.sort());
  });

  it("describes requests and answers from the zod schemas that check them", async () => {
    const doc = (await api.inject({ method: "GET", url: "/openapi.json" })).json();
    const submit = doc.paths["/api/v1/tasks"].post;
    expect(submit.tags).toEqual(["tasks"]);
    const body = submit.requestBody.content["application/json"].schema;
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(["type", "payload", "priority"]));
    expect(body.properties.priority.enum).toEqual(["critical", "high", "normal", "low"]);
    const list = doc.paths["/api/v1/tasks"].get;
    expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["status", "skill", "node", "limit", "cursor"]),
    );
    const node = doc.paths["/api/v1/nodes/{id}"].get;
    expect(node.parameters).toEqual([expect.objectContaining({ name: "id", in: "path", required: true })]);
    const nodeJson = node.responses["200"].content["application/json"].schema;
    expect(Object.keys(nodeJson.properties)).toEqual(
      expect.arrayContaining(["node_id", "status", "available_skills", "last_heartbeat"]),
    );
  });

  it("serves the interactive page at /docs", async () => {
    const res = await api.inject({ method: "GET", url: "/docs/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    expect(res.body).toContain("swagger");
  });
});
