/**
 * Test harness: real nats-server processes on ports they pick themselves, `oclaw` service
 * processes, and polling waits. Everything it starts is stopped when the test process exits.
 *
 * ```ts
 * const nats = await startNatsServer();
 * const worker = spawnOclaw(["worker", "--nats-url", nats.url, "--node-id", "w1"]);
 * await waitFor(async () => (await fetchNodes()).length === 1);
 * await worker.stop(); await nats.stop();
 * ```
 */
export { nodeDescriptor, nodeRecord, taskRecord, taskSpec } from "./fixtures.js";
export {
  type NatsCluster,
  type NatsClusterNode,
  type NatsClusterOptions,
  startNatsCluster,
} from "./nats-cluster.js";
export { type NatsServer, type NatsServerOptions, natsServerBinary, startNatsServer } from "./nats-server.js";
export { freePort, freePortRange } from "./net.js";
export { OCLAW_BIN, type ServiceProcess, spawnOclaw } from "./process.js";
export { StopWaiting, uniquePrefix, waitFor } from "./wait.js";
