import { createHash } from "node:crypto";
import type { Logger } from "@openclaw/log";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Api } from "./api.js";
import { errorBody } from "./errors.js";

/** Who may do what through the API (config `coordinator.api_keys`, `read_api_keys`, `open_reads`). */
export interface AuthSettings {
  /** Keys that may do everything. */
  writeKeys: readonly string[];
  /** Keys that may only read. */
  readKeys: readonly string[];
  /** With keys set, reads need none. */
  openReads: boolean;
}

/** Always open: load balancers' health checks, the API's own description, the dashboard's files. */
const OPEN_PATHS = ["/", "/health", "/api/v1/health", "/api/v1/cluster/health", "/openapi.json"];
const OPEN_PREFIXES = ["/docs", "/ui"];
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const digest = (key: string) => createHash("sha256").update(key).digest("hex");

/** The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
function keyOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const header = req.headers["x-api-key"];
  return typeof header === "string" && header !== "" ? header : undefined;
}

/**
 * Whether the route a request matched is open. Decided on the route's pattern, not the URL: the
 * router also matches `/health/` and percent-encoded spellings, which must be open too.
 */
function isOpen(route: string | undefined): boolean {
  if (route === undefined) return false; // no route: a 404, for a caller with a key only
  return OPEN_PATHS.includes(route) || OPEN_PREFIXES.some((p) => route === p || route.startsWith(`${p}/`));
}

/**
 * API keys. Without any key configured the API is open (a warning says so when it listens
 * beyond this machine). With keys, a write (anything but GET) needs a write key, and a read needs
 * any key unless `openReads`. Keys are compared by their SHA-256, never logged; a request's key
 * shows in the log as the first 8 hex digits of its hash (`key_id`).
 */
export function registerAuth(app: Api, settings: AuthSettings, log: Logger): void {
  const roles = new Map<string, "read" | "write">();
  for (const k of settings.readKeys) roles.set(digest(k), "read");
  for (const k of settings.writeKeys) roles.set(digest(k), "write");
  if (roles.size === 0) return;
  log.info(
    {
      write_keys: settings.writeKeys.length,
      read_keys: settings.readKeys.length,
      open_reads: settings.openReads,
    },
    "the API needs a key",
  );

  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    if (isOpen(req.routeOptions.url)) return;
    const read = READ_METHODS.has(req.method);
    if (read && settings.openReads) return;
    const key = keyOf(req);
    const deny = (status: 401 | 403, code: "OC-4010" | "OC-4011" | "OC-4003", message: string) => {
      if (status === 401) reply.header("www-authenticate", 'Bearer realm="openclaw"');
      return reply.code(status).send(errorBody(status, code, message));
    };
    if (key === undefined) {
      return deny(
        401,
        "OC-4010",
        `this API needs a key: send "Authorization: Bearer <key>" or "X-API-Key: <key>" (keys are set in coordinator.api_keys)`,
      );
    }
    const hash = digest(key);
    const role = roles.get(hash);
    if (!role) return deny(401, "OC-4011", "the API key is not one of this coordinator's keys");
    if (!read && role === "read") {
      req.log.info(
        { key_id: hash.slice(0, 8), method: req.method, url: req.url },
        "read-only key refused a write",
      );
      return deny(
        403,
        "OC-4003",
        `this API key may only read; ${req.method} needs a key from coordinator.api_keys`,
      );
    }
  });
}

/** Whether a host is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
