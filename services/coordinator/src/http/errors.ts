import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type ErrorCode, isOcError } from "@openclaw/protocol";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import type { ErrorJson } from "./schemas.js";
import { shown } from "./schemas.js";

/** Path parameters that are ids: a bad one is OC-4001, any other bad input OC-4000. */
const ID_PARAMS = new Set(["id", "skill"]);

export function errorBody(statusCode: number, code: ErrorCode, message: string, field?: string): ErrorJson {
  return {
    statusCode,
    error: STATUS_CODES[statusCode] ?? "Error",
    code,
    message,
    ...(field === undefined ? {} : { field }),
  };
}

/** Maps every failure to one answer shape; internals of unexpected errors stay in the log. */
export function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issue = err.validation[0];
    const path = issue?.instancePath.split("/").filter((p) => p !== "") ?? [];
    // An unknown field is named by its key, e.g. `retry.max_tries`.
    const keys =
      issue?.keyword === "unrecognized_keys" ? (issue.params as { keys?: unknown }).keys : undefined;
    if (Array.isArray(keys) && typeof keys[0] === "string") path.push(keys[0]);
    const field = path.join(".") || err.validationContext || "request";
    const code = err.validationContext === "params" && ID_PARAMS.has(field) ? "OC-4001" : "OC-4000";
    const message = issue?.message ?? "the request is invalid";
    // Body issues name nested fields, whose messages do not say which field they are about.
    const shownMessage = err.validationContext === "body" ? `${field}: ${message}` : message;
    return reply.code(400).send(errorBody(400, code, shownMessage, field));
  }
  // Only a submission carries a payload; another route's body is just too large.
  if (
    err.code === "FST_ERR_CTP_BODY_TOO_LARGE" &&
    !(req.method === "POST" && req.routeOptions.url === "/api/v1/tasks")
  ) {
    return reply
      .code(400)
      .send(
        errorBody(
          400,
          "OC-4000",
          `the request body is larger than ${req.routeOptions.bodyLimit ?? "the limit of"} bytes`,
          "body",
        ),
      );
  }
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return reply
      .code(400)
      .send(
        errorBody(
          400,
          "OC-4002",
          `the request body is larger than ${req.routeOptions.bodyLimit ?? "the limit of"} bytes; the payload may be at most tasks.max_payload_bytes of JSON`,
          "payload",
        ),
      );
  }
  if (isOcError(err)) {
    if (err.status >= 500)
      req.log.error({ error_code: err.code, error: err.message, url: req.url }, "request failed");
    return reply.code(err.status).send(errorBody(err.status, err.code, err.message, err.field));
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send(errorBody(status, "OC-4000", err.message));
  }
  req.log.error(
    { error_code: "OC-5000", error: err.message, stack: err.stack, method: req.method, url: req.url },
    "request failed",
  );
  return reply
    .code(500)
    .send(errorBody(500, "OC-5000", "internal error; the coordinator log has the details"));
}

/**
 * Errors fastify raises before any route runs (`frameworkErrors`): a path parameter longer than
 * the router takes (`maxParamLength`, 500) and a URL that does not decode. Answered in the API's
 * shape, without echoing the URL (fastify's own answers quote it whole).
 */
export function handleFrameworkError(
  err: FastifyError,
  _req: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (err.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return reply
      .code(400)
      .send(
        errorBody(
          400,
          "OC-4001",
          "a path segment is longer than 500 characters; ids (node ids, task ids, skill names) are 1-64 characters from A-Z a-z 0-9 _ -",
        ),
      );
  }
  if (err.code === "FST_ERR_BAD_URL") {
    return reply
      .code(400)
      .send(errorBody(400, "OC-4000", "the URL is not valid: a '%' is not followed by two hex digits"));
  }
  return reply
    .code(500)
    .send(errorBody(500, "OC-5000", "internal error; the coordinator log has the details"));
}

/**
 * A request node's HTTP parser refuses (headers or URL over 16 KB, a malformed request line):
 * answered on the socket in the API's shape, as fastify's default handler does in its own.
 */
export function handleClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, message] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "the request took too long to arrive"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "the URL and headers are larger than 16 KB"]
        : [400, "the request is not valid HTTP"];
  const body = JSON.stringify(errorBody(status, "OC-4000", message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

export function handleNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = req.url.split("?")[0] ?? req.url;
  return reply
    .code(404)
    .send(
      errorBody(
        404,
        "OC-4005",
        `no route ${req.method} ${shown(path)}; the API lives under /api/v1 and /health`,
      ),
    );
}
