import { fieldIssues, formatIssues, OcError } from "@openclaw/protocol";
import type { z } from "zod";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * JSON bytes of `value`. A value JSON cannot hold (a cycle, a BigInt, nesting so deep that
 * `JSON.stringify` runs out of stack) throws OcError OC-2002: bad input, which a consumer gives up
 * on at once (dead letter) rather than retry on every delivery.
 */
export function encode(value: unknown): Uint8Array {
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new OcError("OC-2002", `cannot be encoded as JSON: ${(err as Error).message}`, { cause: err });
  }
  return encoder.encode(json);
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses JSON bytes and validates them; never throws, so a hostile message cannot crash a handler. */
export function decode<S extends z.ZodType>(schema: S, data: Uint8Array): Decoded<z.output<S>> {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: `not JSON (${data.length} bytes)` };
  }
  const result = schema.safeParse(raw);
  if (!result.success) return { ok: false, error: formatIssues(fieldIssues(result.error)) };
  return { ok: true, value: result.data };
}
