import { request } from "node:http";
import type { ServiceContext } from "@openclaw/bus";
import { type NatsServer, startNatsServer, uniquePrefix, waitFor } from "@openclaw/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Coordinator } from "../src/coordinator.js";
import { nodeRecord, tempDir } from "./fixtures.js";
import { Harness, writer } from "./harness.js";

/**
 * Hostile input on every route of the OpenAPI document: malformed JSON, a wrong type in each
 * body field, 5,000 levels of nesting, 1 MB strings, ids that are not subject tokens (600
 * characters, `a.b`, `*`, `>`, spaces, percent-encoded dots), unknown and bad query parameters.
 * Every answer must be a 4xx in the API's error shape (`code` OC-xxxx), never a 5xx, and nothing
 * may change: the read model's tasks and nodes, and the messages of every stream. The inputs
 * are enumerated (no randomness) and sent one at a time; each must be answered within 10 s.
 */

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
}

type JsonSchema = {
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  nullable?: boolean;
};

interface Operation {
  parameters?: { name: string; in: "path" | "query" | "header"; schema?: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

interface Route {
  method: string;
  /** With `{param}` placeholders. */
  path: string;
  pathParams: string[];
  queryParams: { name: string; schema: JsonSchema | undefined }[];
  body: JsonSchema | undefined;
}

const DEPTH = 5000;
const MB = 1024 * 1024;

/** Ids that are not subject tokens, as they appear in a raw request path (nothing normalizes them). */
const HOSTILE_IDS = [
  "a.b",
  "*",
  ">",
  "a%20b",
  "%20",
  "a".repeat(600),
  "%2e%2e",
  "%2E",
  "a%2Eb",
  "..",
  "%2e%2e%2f%2e%2e",
  "%00",
  "%zz",
  "a%0Ab",
  "%F0%9F%92%A9",
  "a;b",
  "a%3Eb",
];

const MALFORMED_JSON = [
  "{",
  '{"a":',
  "[1,2",
  "nul",
  '{"a":1}}',
  "{'a':1}",
  '{"a":1,}',
  "\u0000",
  '"\\ud800"x',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
];

/** Every JSON type's sample; a field is sent each sample its schema does not allow. */
const SAMPLES: [string, unknown][] = [
  ["number", 12345],
  ["string", "fuzz-string"],
  ["boolean", true],
  ["null", null],
  ["array", [1]],
  ["object", { fuzz: 1 }],
];

function nested(depth: number, kind: "object" | "array"): string {
  return kind === "object"
    ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
    : `${"[".repeat(depth)}1${"]".repeat(depth)}`;
}

/** The JSON types a schema allows; undefined when it allows anything. */
function typesOf(schema: JsonSchema | undefined): Set<string> | undefined {
  if (!schema) return undefined;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    const all = new Set<string>();
    for (const alt of alternatives) {
      const t = typesOf(alt);
      if (!t) return undefined;
      for (const x of t) all.add(x);
    }
    return all;
  }
  if (schema.allOf?.length) return typesOf(schema.allOf[0]);
  if (schema.const !== undefined) return new Set([schema.const === null ? "null" : typeof schema.const]);
  if (schema.enum) return new Set(schema.enum.map((v) => (v === null ? "null" : typeof v)));
  if (schema.type === undefined) return undefined;
  const types = new Set(
    (Array.isArray(schema.type) ? schema.type : [schema.type]).map((t) => (t === "integer" ? "number" : t)),
  );
  if (schema.nullable) types.add("null");
  return types;
}

/** A value of the schema's first type, for the required fields of a body. */
function sampleOf(schema: JsonSchema | undefined): unknown {
  if (schema?.enum?.length) return schema.enum[0];
  const types = typesOf(schema);
  if (!types || types.has("string")) return "fuzz";
  if (types.has("number")) return schema?.minimum ?? 1;
  if (types.has("boolean")) return false;
  if (types.has("array")) return [];
  if (types.has("object")) return {};
  return null;
}

/** The body schema's required fields with plain values (for POST /api/v1/tasks, `{ type }`). */
function baseBody(schema: JsonSchema | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const name of schema?.required ?? []) body[name] = sampleOf(schema?.properties?.[name]);
  return body;
}

function bodySchemaOf(op: Operation): JsonSchema | undefined {
  const schema = op.requestBody?.content?.["application/json"]?.schema;
  if (!schema) return undefined;
  // `Body.nullish()`: the object alternative.
  return schema.properties ? schema : ((schema.anyOf ?? schema.oneOf)?.find((s) => s.properties) ?? schema);
}

describe("the HTTP API under hostile input", () => {
  let server: NatsServer;
  let h: Harness;
  let tmp: ReturnType<typeof tempDir>;
  let ctx: ServiceContext;
  let c: Coordinator;
  let host: string;
  let port: number;

  beforeAll(async () => {
    server = await startNatsServer();
    h = new Harness(server.url, uniquePrefix());
    tmp = tempDir();
    ctx = await h.context({ dbPath: tmp.file("fuzz.db") });
    c = await h.coordinator(ctx);
    const url = new URL(c.url);
    host = url.hostname;
    port = Number(url.port);
    // Something to aim at: a node and a pending task (no scheduler runs, so it stays pending).
    await writer(ctx).putNode(nodeRecord("w1", { skills: ["python"] }));
    const posted = await send(
      "POST",
      "/api/v1/tasks",
      JSON.stringify({ task_id: "fuzz-t1", type: "python" }),
    );
    expect(posted.status).toBe(202);
    await waitFor(() => c.store.getNode("w1") && c.store.tasks.get("fuzz-t1"));
  }, 60_000);

  afterAll(async () => {
    await h?.closeAll();
    await server?.stop();
    tmp?.cleanup();
  });

  /** One request with a raw path (fetch would resolve `..` and `%2e` itself). */
  function send(
    method: string,
    path: string,
    body?: string,
    contentType = "application/json",
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (body !== undefined) {
        headers["content-type"] = contentType;
        headers["content-length"] = Buffer.byteLength(body);
      }
      // A connection each: one the server closed after an error is never reused.
      const req = request({ host, port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            contentType: res.headers["content-type"],
          }),
        );
        res.on("error", reject);
      });
      req.setTimeout(10_000, () =>
        req.destroy(new Error(`${method} ${path.slice(0, 100)}: no answer within 10 s`)),
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  async function state() {
    const { jsm, names } = ctx.cluster;
    const messages: Record<string, number> = {};
    for (const stream of Object.values(names.streams)) {
      messages[stream] = await jsm.streams.info(stream).then(
        (info) => info.state.messages,
        () => -1,
      );
    }
    return {
      tasks: c.store.tasks.list({ limit: 100_000 }).length,
      nodes: c.store.listNodes().length,
      task: c.store.tasks.get("fuzz-t1")?.updated_at,
      drain: c.store.getNode("w1")?.drain,
      messages,
    };
  }

  async function routes(): Promise<Route[]> {
    const doc = (await (await fetch(`${c.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const out: Route[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
        const params = op.parameters ?? [];
        out.push({
          method: method.toUpperCase(),
          path,
          pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
          queryParams: params
            .filter((p) => p.in === "query")
            .map((p) => ({ name: p.name, schema: p.schema })),
          body: bodySchemaOf(op),
        });
      }
    }
    return out;
  }

  /** The route's path with every parameter a known id (`w1`, `python`, `fuzz-t1`), or `id` where given. */
  function fill(route: Route, id?: { param: string; value: string }): string {
    return route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      if (id?.param === name) return id.value;
      if (name === "skill") return "python";
      return route.path.startsWith("/api/v1/tasks") ? "fuzz-t1" : "w1";
    });
  }

  /** Every hostile request of one route, enumerated. */
  function cases(route: Route): { label: string; path: string; body?: string; contentType?: string }[] {
    const out: { label: string; path: string; body?: string; contentType?: string }[] = [];
    const path = fill(route);
    const takesBody = route.method !== "GET";
    for (const param of route.pathParams) {
      for (const value of HOSTILE_IDS) {
        out.push({ label: `{${param}} = ${value.slice(0, 20)}`, path: fill(route, { param, value }) });
      }
    }
    out.push({
      label: "unknown query parameter",
      path: `${path}?statsu=offline`,
      ...(takesBody ? { body: JSON.stringify(baseBody(route.body)) } : {}),
    });
    out.push({ label: "unknown query parameter, repeated", path: `${path}?x=1&x=2` });
    out.push({ label: "20 KB query", path: `${path}?statsu=${"x".repeat(20_000)}` });
    for (const q of route.queryParams) {
      // Values no parameter takes (ids are tokens of at most 64 characters, numbers whole).
      for (const value of ["%00", "a.b", "*", ">", "-1.5", "x".repeat(2000)]) {
        out.push({ label: `?${q.name}=${value.slice(0, 20)}`, path: `${path}?${q.name}=${value}` });
      }
      out.push({ label: `?${q.name} twice`, path: `${path}?${q.name}=1&${q.name}=2` });
    }
    if (!takesBody) return out;
    for (const text of MALFORMED_JSON)
      out.push({ label: `malformed JSON ${JSON.stringify(text)}`, path, body: text });
    out.push({ label: "empty JSON body", path, body: "" });
    out.push({ label: "not JSON", path, body: "reason=x", contentType: "application/x-www-form-urlencoded" });
    out.push({ label: "a JSON array", path, body: "[]" });
    out.push({ label: "a JSON string", path, body: '"x"' });
    out.push({ label: `${DEPTH} nested objects`, path, body: nested(DEPTH, "object") });
    out.push({ label: `${DEPTH} nested arrays`, path, body: nested(DEPTH, "array") });
    const base = baseBody(route.body);
    for (const [field, schema] of Object.entries(route.body?.properties ?? {})) {
      const allowed = typesOf(schema);
      if (allowed) {
        for (const [type, sample] of SAMPLES) {
          if (allowed.has(type)) continue;
          out.push({ label: `${field}: ${type}`, path, body: JSON.stringify({ ...base, [field]: sample }) });
        }
      }
      if (!allowed || allowed.has("object") || allowed.has("array")) {
        const deep = `{${Object.entries(base)
          .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
          .concat(`${JSON.stringify(field)}:${nested(DEPTH, "object")}`)
          .join(",")}}`;
        out.push({ label: `${field}: ${DEPTH} nested objects`, path, body: deep });
      }
      if (!allowed || allowed.has("string")) {
        out.push({
          label: `${field}: 1 MB string`,
          path,
          body: JSON.stringify({ ...base, [field]: "x".repeat(MB) }),
        });
      }
    }
    return out;
  }

  it("answers every hostile request with a 4xx and an OC- code, and changes nothing", async () => {
    const all = await routes();
    // The document lists the API's routes (the event streams' HEAD, the feed and /metrics are not in it).
    expect(all.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        "GET /api/v1/nodes",
        "POST /api/v1/tasks",
        "GET /api/v1/tasks/{id}/events",
        "POST /api/v1/cluster/elect",
      ]),
    );
    const before = await state();
    const problems: string[] = [];
    let sent = 0;
    for (const route of all) {
      for (const k of cases(route)) {
        const where = `${route.method} ${route.path} [${k.label}]`;
        let answer: Answer;
        try {
          answer = await send(route.method, k.path, k.body, k.contentType);
        } catch (err) {
          problems.push(`${where}: ${(err as Error).message}`);
          continue;
        }
        sent += 1;
        let code: unknown;
        try {
          code = (JSON.parse(answer.body) as { code?: unknown }).code;
        } catch {
          code = undefined;
        }
        if (
          answer.status < 400 ||
          answer.status > 499 ||
          typeof code !== "string" ||
          !/^OC-\d{4}$/.test(code)
        ) {
          problems.push(`${where}: ${answer.status} ${answer.body.slice(0, 160)}`);
        } else if (!answer.contentType?.startsWith("application/json")) {
          problems.push(`${where}: content-type ${answer.contentType}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(sent).toBeGreaterThan(300);
    expect(await state()).toEqual(before);
  }, 180_000);
});
