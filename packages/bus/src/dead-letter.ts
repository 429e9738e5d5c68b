import { headers } from "@nats-io/transport-node";
import { isNotFound } from "./errors.js";
import type { Cluster } from "./provision.js";

/** A dead letter's headers: where the message was published, why it was given up, by whom. */
export const DEAD_LETTER_HEADERS = {
  subject: "Oc-Subject",
  reason: "Oc-Reason",
  source: "Oc-Source",
  deliveries: "Oc-Deliveries",
} as const;

/** Longest reason kept in a dead letter's header. */
const MAX_REASON = 1000;

export interface DeadLetter {
  /** The consumer that gave up on it, e.g. `scheduler`. */
  source: string;
  /** The subject the message was published on. */
  subject: string;
  reason: string;
  /** The message's bytes, as they were. */
  data: Uint8Array;
  deliveries?: number;
}

/**
 * Keeps a copy of a message a consumer gives up on in the DEAD_LETTERS stream
 * (`<prefix>.dead.<source>`): the raw bytes as the body, subject, reason and source in headers,
 * the time as the stream's. `GET /api/v1/cluster/dead-letters` lists them. Never throws: losing the
 * copy must not keep the message alive (the caller has logged it).
 */
export async function deadLetter(cluster: Cluster, letter: DeadLetter): Promise<boolean> {
  const h = headers();
  h.set(DEAD_LETTER_HEADERS.subject, letter.subject);
  const reason = letter.reason.replace(/[\r\n]+/g, " ");
  h.set(
    DEAD_LETTER_HEADERS.reason,
    reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 3)}...` : reason,
  );
  h.set(DEAD_LETTER_HEADERS.source, letter.source);
  if (letter.deliveries !== undefined) h.set(DEAD_LETTER_HEADERS.deliveries, String(letter.deliveries));
  try {
    await cluster.js.publish(cluster.names.subjects.deadLetter(letter.source), letter.data, {
      headers: h,
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  }
}

/** A dead letter as stored. */
export interface StoredDeadLetter {
  /** Its sequence in the DEAD_LETTERS stream. */
  seq: number;
  /** When it was kept. */
  at: Date;
  source: string;
  subject: string;
  reason: string;
  deliveries: number | null;
  /** The message's bytes, as they were. */
  data: Uint8Array;
}

/** The newest `limit` dead letters, newest first; none when the stream does not exist (yet). */
export async function readDeadLetters(cluster: Cluster, limit: number): Promise<StoredDeadLetter[]> {
  const stream = cluster.names.streams.deadLetters;
  const info = await cluster.jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  const out: StoredDeadLetter[] = [];
  if (!info || info.state.messages === 0) return out;
  for (let seq = info.state.last_seq; seq >= info.state.first_seq && out.length < limit; seq--) {
    const m = await cluster.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue; // deleted meanwhile
    const deliveries = Number(m.header?.get(DEAD_LETTER_HEADERS.deliveries));
    out.push({
      seq: m.seq,
      at: m.time,
      source: m.header?.get(DEAD_LETTER_HEADERS.source) ?? "",
      subject: m.header?.get(DEAD_LETTER_HEADERS.subject) ?? "",
      reason: m.header?.get(DEAD_LETTER_HEADERS.reason) ?? "",
      deliveries: Number.isInteger(deliveries) && deliveries > 0 ? deliveries : null,
      data: m.data,
    });
  }
  return out;
}
