import type { Config } from "@openclaw/config";
import type { Logger } from "@openclaw/log";
import { names, type Sender } from "@openclaw/protocol";
import { connectBus } from "./connection.js";
import { type Cluster, provisionCluster } from "./provision.js";

/** What every service gets at start: its config, logger, identity and a provisioned cluster. */
export interface ServiceContext {
  config: Config;
  log: Logger;
  sender: Sender;
  cluster: Cluster;
  /** Drains the NATS connection (flushes pending publishes, then closes). */
  close(): Promise<void>;
}

export async function startServiceContext(options: {
  config: Config;
  service: string;
  instance: string;
  log: Logger;
}): Promise<ServiceContext> {
  const { config, service, instance, log } = options;
  const comm = config.communication;
  const nc = await connectBus({
    url: comm.nats_url,
    user: comm.nats_user,
    password: comm.nats_password,
    token: comm.nats_token,
    name: `${service}-${instance}`,
    connectTimeoutMs: comm.connect_timeout,
    log,
  });
  try {
    const cluster = await provisionCluster(nc, names(config.cluster.subject_prefix), {
      eventsMaxAgeMs: config.cluster.events_max_age,
      leaseTtlMs: config.cluster.election_timeout,
      replicas: config.cluster.replicas,
      log,
    });
    return {
      config,
      log,
      sender: { service, instance },
      cluster,
      async close() {
        if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
