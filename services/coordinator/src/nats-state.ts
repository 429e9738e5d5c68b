import type { NatsConnection } from "@openclaw/bus";
import type { NatsState } from "./http/api.js";

export interface NatsStateTracker {
  state(): NatsState;
  stop(): void;
}

/** Follows the connection's status events: disconnected from a drop until the reconnect. */
export function trackNatsState(nc: NatsConnection): NatsStateTracker {
  let down = false;
  const events = nc.status();
  void (async () => {
    for await (const s of events) {
      if (s.type === "disconnect" || s.type === "reconnecting" || s.type === "staleConnection") down = true;
      else if (s.type === "reconnect") down = false;
    }
  })().catch(() => undefined);
  return {
    state: () => (nc.isClosed() || down ? "disconnected" : "connected"),
    stop: () => (events as { stop?: () => void }).stop?.(),
  };
}
