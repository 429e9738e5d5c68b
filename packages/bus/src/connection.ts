import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@openclaw/log";
import { OcError } from "@openclaw/protocol";
import { patchRequestSettle } from "./request-patch.js";

patchRequestSettle();

export type { NatsConnection } from "@nats-io/transport-node";

export interface BusConnectOptions {
  /** One URL or several separated by commas. */
  url: string;
  user?: string;
  password?: string;
  token?: string;
  /** Connection name shown by the server (`service-instance`). */
  name: string;
  /** Give up after this long without a first connection; afterwards reconnect forever. */
  connectTimeoutMs: number;
  log: Logger;
}

/** Logs URLs without credentials. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, "//***@");
}

/**
 * Connects to NATS, retrying until `connectTimeoutMs`; once connected the client reconnects
 * forever with backoff, and every status change is logged.
 */
export async function connectBus(options: BusConnectOptions): Promise<NatsConnection> {
  const servers = options.url.split(",").map((s) => s.trim());
  const deadline = Date.now() + options.connectTimeoutMs;
  let attempt = 0;
  for (;;) {
    attempt += 1;
    try {
      const nc = await connect({
        servers,
        name: options.name,
        user: options.user,
        pass: options.password,
        token: options.token,
        // Measured here: async stack traces cost about half of publish/KV throughput.
        noAsyncTraces: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        reconnectJitter: 250,
        timeout: Math.max(500, Math.min(5000, deadline - Date.now())),
      });
      watchStatus(nc, options.log);
      options.log.info({ nats_url: redactUrl(options.url), server: nc.info?.server_id }, "connected to NATS");
      return nc;
    } catch (err) {
      const message = (err as Error).message;
      if (Date.now() >= deadline) {
        throw new OcError(
          "OC-2001",
          `cannot connect to NATS at ${redactUrl(options.url)} after ${attempt} attempts: ${message}. ` +
            "Is nats-server running with -js, and is communication.nats_url right?",
          { cause: err },
        );
      }
      options.log.warn(
        { nats_url: redactUrl(options.url), attempt, error_code: "OC-2001" },
        `NATS not reachable yet: ${message}`,
      );
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * attempt)));
    }
  }
}

function watchStatus(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          log.warn({ error_code: "OC-2001" }, "disconnected from NATS; reconnecting");
          break;
        case "reconnect":
          log.info("reconnected to NATS");
          break;
        case "error":
          log.error({ error: String((s as { error?: unknown }).error) }, "NATS client error");
          break;
        default:
          break;
      }
    }
  })().catch(() => undefined);
}

/** Bytes a message needs besides its payload (envelope, spec, headers): kept free under NATS's limit. */
const ENVELOPE_ROOM = 64 * 1024;

/**
 * The largest payload that will fit the server's `max_payload` along with its envelope, if that
 * is less than `configured`; else `configured`.
 */
export function payloadLimit(nc: NatsConnection, configured: number): number {
  const serverMax = nc.info?.max_payload;
  return serverMax ? Math.min(configured, Math.max(0, serverMax - ENVELOPE_ROOM)) : configured;
}
