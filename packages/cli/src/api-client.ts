import type { Config } from "@openclaw/config";
import { impliedUpContext } from "./up-context.js";

/** An error answer of the coordinator's API: `{ statusCode, code, message, field? }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The coordinator could not be reached at all. */
export class UnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const why = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as Error).message;
    super(
      `cannot reach the coordinator at ${url} (${why}); start the cluster (oclaw up) or point --api-url (or OPENCLAW_API_URL) at a coordinator`,
    );
    this.name = "UnreachableError";
  }
}

export interface ApiClientOptions {
  /** The API's base URL; default from OPENCLAW_API_URL, else the configured coordinator port on this machine. */
  apiUrl?: string;
  /** An API key, sent as `Authorization: Bearer`; default OPENCLAW_API_KEY. */
  apiKey?: string;
}

/**
 * Where the coordinator's API is: the flag, the environment, the running `oclaw up`'s, else the
 * configured port here.
 */
export function apiBaseUrl(o: ApiClientOptions & { config?: string }, config: Config): string {
  const explicit = o.apiUrl ?? process.env.OPENCLAW_API_URL ?? impliedUpContext(o)?.api_url;
  if (explicit) return explicit.replace(/\/+$/, "");
  const host = config.coordinator.host;
  const local = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
  return `http://${local.includes(":") ? `[${local}]` : local}:${config.coordinator.port}`;
}

/** A small JSON client for the coordinator's HTTP API, as the CLI's read and task commands use it. */
export class ApiClient {
  readonly baseUrl: string;
  readonly #key: string | undefined;

  constructor(baseUrl: string, apiKey?: string) {
    this.baseUrl = baseUrl;
    this.#key = apiKey ?? (process.env.OPENCLAW_API_KEY || undefined);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}), ...extra };
  }

  /** The raw response (for event streams); throws `UnreachableError` when nothing answers. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        ...init,
        headers: this.headers(init.headers as Record<string, string> | undefined),
      });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new UnreachableError(this.baseUrl, err);
    }
  }

  get<T>(path: string): Promise<T> {
    return this.#json<T>(path, { method: "GET" });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.#json<T>(path, {
      method: "POST",
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
  }

  async #json<T>(path: string, init: RequestInit): Promise<T> {
    const res = await this.fetch(path, init);
    const text = await res.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body ?? {}) as { code?: string; message?: string; field?: string };
      throw new ApiError(res.status, e.code, e.message ?? `${res.status} ${res.statusText}`, e.field);
    }
    return body as T;
  }
}
