import { bindCluster, type Cluster, connectBus } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { names, type Sender } from "@openclaw/protocol";
import type { ResolvedOptions } from "./options.js";

/** The SDK's NATS side: one connection, bound to the cluster's streams and buckets. */
export interface Connection {
  cluster: Cluster;
  sender: Sender;
  /** Calls `fn` each time the connection is back after a disconnect; returns the unsubscribe. */
  onReconnect(fn: () => void): () => void;
  close(): Promise<void>;
}

export async function connect(o: ResolvedOptions): Promise<Connection> {
  const instance = `sdk-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const nc = await connectBus({
    url: o.natsUrl,
    user: o.user,
    password: o.password,
    token: o.token,
    name: instance,
    connectTimeoutMs: o.connectTimeoutMs,
    log: silentLogger(),
  });
  try {
    const cluster = await bindCluster(nc, names(o.prefix));
    const reconnected = new Set<() => void>();
    // One status reader for every waiting job; it ends when the connection closes.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "reconnect") for (const fn of [...reconnected]) fn();
      }
    })().catch(() => undefined);
    return {
      cluster,
      sender: { service: "sdk", instance },
      onReconnect(fn) {
        reconnected.add(fn);
        return () => reconnected.delete(fn);
      },
      close: async () => {
        if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
