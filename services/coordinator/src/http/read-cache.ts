import type { z } from "zod";

/**
 * Answers computed from the read model, kept as encoded JSON while the model has not changed (its
 * version) and for at most `maxAgeMs` (answers that depend on the clock, such as how long ago a
 * node was seen, are never older than that). Hot read endpoints (a cluster's health, the nodes
 * with a skill) polled by many clients then cost a map lookup, not a query and a serialization.
 * Kept as bytes, not a string: the socket write of a string encodes it again every time (a 27 KB
 * answer at 10,000 requests/s made that a fifth of the coordinator's time).
 */
export class ReadCache {
  readonly #entries = new Map<string, { version: number; at: number; body: Buffer }>();
  readonly #version: () => number;
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;

  /** @param clock milliseconds, from the clock the answers are computed with */
  constructor(
    version: () => number,
    clock: () => number,
    options: { maxAgeMs?: number; maxEntries?: number } = {},
  ) {
    this.#version = version;
    this.#clock = clock;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
    this.#maxEntries = options.maxEntries ?? 1000;
  }

  /**
   * The answer for `key` as UTF-8 JSON: cached, or computed, checked against `schema` and cached.
   * With `reuseMs`, an answer that young is served even if the model changed since: for answers
   * costly to compute from a model that changes all the time (the queue's counts under load).
   */
  json<S extends z.ZodType>(key: string, schema: S, compute: () => z.input<S>, reuseMs = 0): Buffer {
    const version = this.#version();
    const now = this.#clock();
    const hit = this.#entries.get(key);
    const young = hit !== undefined && now >= hit.at && now - hit.at < this.#maxAgeMs;
    if (hit && young && (hit.version === version || now - hit.at < reuseMs)) return hit.body;
    // Checked as the route's response schema would check it (a cached answer skips fastify's).
    const body = Buffer.from(JSON.stringify(schema.parse(compute())));
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(key, { version, at: now, body });
    return body;
  }
}
