import { randomUUID } from "node:crypto";
import { z } from "zod";

/** Version of the wire format; bumped when a message changes incompatibly. */
export const PROTOCOL_VERSION = 1;

export const Sender = z.strictObject({
  service: z.string().min(1).max(64),
  instance: z.string().min(1).max(128),
});
export type Sender = z.infer<typeof Sender>;

/** Fields every bus message carries next to its body. */
export const EnvelopeFields = {
  v: z.literal(PROTOCOL_VERSION),
  id: z.string().min(1).max(64),
  ts: z.iso.datetime(),
  sender: Sender,
  trace_id: z.string().max(64).optional(),
};

export function envelope(sender: Sender, traceId?: string) {
  return {
    v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
    id: randomUUID(),
    ts: new Date().toISOString(),
    sender,
    ...(traceId ? { trace_id: traceId } : {}),
  };
}

/** The release of OpenClaw Cluster this code belongs to; workers announce it. */
export const CLUSTER_VERSION = "0.1.0";
