import { counter, gauge } from "./registry.js";

const reconnects = counter(
  "openclaw_nats_reconnects_total",
  "Reconnections to NATS after the connection was lost",
);
const disconnects = counter("openclaw_nats_disconnects_total", "Times the NATS connection was lost");
const connected = gauge("openclaw_nats_connected", "1 while connected to NATS, 0 while reconnecting");

/** Counts a NATS connection's disconnects and reconnects from its status events (`nc.status()`). */
export function trackNatsConnection(status: AsyncIterable<{ type: string }>): void {
  connected.set(1);
  void (async () => {
    for await (const s of status) {
      if (s.type === "disconnect") {
        disconnects.inc();
        connected.set(0);
      } else if (s.type === "reconnect") {
        reconnects.inc();
        connected.set(1);
      }
    }
  })().catch(() => undefined);
}
