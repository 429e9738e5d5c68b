import { readFileSync } from "node:fs";
import { payloadLimit, readDeadLetters, type ServiceContext } from "@openclaw/bus";
import { Activity } from "./activity.js";
import { adoptCluster } from "./cluster-identity.js";
import type { NodeStore } from "./db/node-store.js";
import { openStore } from "./db/node-store.js";
import { buildApi, taskSettings } from "./http/api.js";
import { isLoopback } from "./http/auth.js";
import { natsLeadership } from "./leadership.js";
import { CoordinatorMetrics } from "./metrics.js";
import { trackNatsState } from "./nats-state.js";
import { startProjection } from "./projection/projection.js";
import { natsTaskBus } from "./task-bus.js";

export interface CoordinatorOptions {
  /** @default config.coordinator.host */
  host?: string;
  /** 0 picks a free port; `Coordinator.port` tells which. @default config.coordinator.port */
  port?: number;
  /** SQLite file of the read model. @default config.storage.path */
  dbPath?: string;
}

export interface Coordinator {
  /** `http://host:port` it listens on. */
  url: string;
  port: number;
  store: NodeStore;
  /** Closes HTTP, stops the projection and closes the database; the caller closes `ctx`. */
  stop(): Promise<void>;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/**
 * Starts the coordinator: opens the SQLite read model, follows the KV buckets and the EVENTS
 * stream into it, and serves the HTTP API. It answers from SQLite, so nodes it has seen stay
 * listed while NATS is away.
 */
export async function startCoordinator(
  ctx: ServiceContext,
  options: CoordinatorOptions = {},
): Promise<Coordinator> {
  const { config, log, cluster } = ctx;
  const store = openStore(options.dbPath ?? config.storage.path);
  try {
    await adoptCluster(cluster, store, log);
  } catch (err) {
    store.close();
    throw err;
  }
  const metrics = new CoordinatorMetrics(store);
  const activity = new Activity();
  const projection = startProjection({
    cluster,
    store,
    log,
    onEvents: (events) => {
      metrics.observe(events);
      activity.observe(events);
    },
  });
  const tasks = taskSettings(config);
  const fits = payloadLimit(cluster.nc, tasks.defaults.max_payload_bytes);
  if (fits < tasks.defaults.max_payload_bytes) {
    log.warn(
      { configured: tasks.defaults.max_payload_bytes, limit: fits, error_code: "OC-4002" },
      "the NATS server's max_payload is too small for tasks.max_payload_bytes; payloads are limited to what fits (raise max_payload in the NATS config)",
    );
    tasks.defaults.max_payload_bytes = fits;
  }
  const nats = trackNatsState(cluster.nc);
  const app = buildApi({
    store,
    log,
    instance: ctx.sender.instance,
    version: packageVersion(),
    nats: nats.state,
    bus: natsTaskBus(cluster, log, ctx.sender),
    sender: ctx.sender,
    tasks,
    leadership: natsLeadership(cluster, ctx.sender),
    deadLetters: (limit) => readDeadLetters(cluster, limit),
    metrics,
    activity,
    auth: {
      writeKeys: config.coordinator.api_keys,
      readKeys: config.coordinator.read_api_keys,
      openReads: config.coordinator.open_reads,
    },
  });

  const stopBackground = async () => {
    nats.stop();
    await projection.stop();
    store.close();
  };

  let port: number;
  try {
    await app.listen({
      host: options.host ?? config.coordinator.host,
      port: options.port ?? config.coordinator.port,
    });
    const address = app.server.address();
    port =
      typeof address === "object" && address !== null
        ? address.port
        : (options.port ?? config.coordinator.port);
  } catch (err) {
    await app.close().catch(() => undefined);
    await stopBackground();
    throw err;
  }
  const host = options.host ?? config.coordinator.host;
  const keyed = config.coordinator.api_keys.length + config.coordinator.read_api_keys.length > 0;
  if (!keyed && !isLoopback(host)) {
    log.warn(
      { host, error_code: "OC-4010" },
      "the API has no keys: anyone who can reach it can submit and cancel tasks; set coordinator.api_keys (or listen on 127.0.0.1)",
    );
  }
  const shownHost =
    host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}`;
  log.info({ url }, "coordinator listening");

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    store,
    stop() {
      stopping ??= (async () => {
        await app.close();
        await stopBackground();
      })();
      return stopping;
    },
  };
}
