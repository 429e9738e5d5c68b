import { OcError } from "@openclaw/protocol";
import type { FastifyReply, FastifyRequest } from "fastify";

/** Open event streams a client address may hold at once (`GET /api/v1/tasks/:id/events` and `/api/v1/cluster/feed` together). */
export const MAX_STREAMS_PER_CLIENT = 20;

/** Counts the open event streams of each client address. */
export class StreamLimit {
  readonly #open = new Map<string, number>();

  constructor(readonly perClient: number = MAX_STREAMS_PER_CLIENT) {}

  /** Takes a slot for `client`: its release (idempotent), or undefined when the client holds every slot. */
  take(client: string): (() => void) | undefined {
    const open = this.#open.get(client) ?? 0;
    if (open >= this.perClient) return undefined;
    this.#open.set(client, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(client) ?? 1) - 1;
      if (left <= 0) this.#open.delete(client);
      else this.#open.set(client, left);
    };
  }

  /** Streams `client` holds now. */
  count(client: string): number {
    return this.#open.get(client) ?? 0;
  }
}

/**
 * What an event stream route does before it streams. HEAD is answered at once with the headers
 * a GET would get and no stream (node never sends the headers of a HEAD answer that is not ended).
 * A client address holding `limit.perClient` streams already is refused with 429 OC-4030.
 * Returns the release of the stream's slot, or undefined when the request is answered.
 */
export function admitStream(
  req: FastifyRequest,
  reply: FastifyReply,
  limit: StreamLimit,
): (() => void) | undefined {
  if (req.method === "HEAD") {
    void reply
      .code(200)
      .header("content-type", "text/event-stream; charset=utf-8")
      .header("cache-control", "no-cache, no-transform")
      .send();
    return undefined;
  }
  const release = limit.take(req.ip);
  if (release) return release;
  reply.header("retry-after", "5");
  throw new OcError(
    "OC-4030",
    `this client holds ${limit.perClient} open event streams already, the most one address may hold; close one first`,
  );
}
