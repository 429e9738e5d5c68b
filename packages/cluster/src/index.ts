/**
 * The OpenClaw Cluster SDK: submit tasks to the cluster, wait
 * for results with failover, follow progress, route, and map-reduce. It talks to NATS directly.
 *
 * ```ts
 * import { OpenClawCluster, TaskRouter } from "@openclaw/cluster";
 * const cluster = new OpenClawCluster({ natsUrl: "nats://localhost:4222" });
 * const status = await cluster.getStatus(); // { activeNodes, totalNodes, activeTasks, queueDepth, ... }
 * const node = await new TaskRouter(cluster).route({ type: "echo" }, { strategy: "least-loaded" });
 * const job = await cluster.submitTask(node, { type: "echo", payload: { hi: 1 }, onProgress: (p) => console.log(p.percent) });
 * const { data } = await job.wait({ failover: true, timeout: "10m" });
 * ```
 */
export { type ErrorCode, isOcError, OcError } from "@openclaw/protocol";
export { type ClusterStatus, type NodeStatus, OpenClawCluster } from "./cluster.js";
export { TaskFailedError, WaitTimeoutError } from "./errors.js";
export { Job, type JobResult, PendingResult, type Progress, type WaitOptions } from "./job.js";
export type { ClusterOptions } from "./options.js";
export { type RouteOptions, TaskRouter } from "./router.js";
export type { TaskInput } from "./task-input.js";
