import { fieldIssues, formatIssues } from "@openclaw/protocol";
import type { z } from "zod";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
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
