/**
 * The coordinator: HTTP API (seed 004's `/health`, `/api/v1/nodes...`, `/api/v1/cluster/health`,
 * and `/api/v1/tasks...`) over a SQLite read model fed by the `nodes` and `node_health` KV
 * buckets (current node state) and the EVENTS stream (history, and tasks from the scheduler's
 * events). Submissions, cancels and retries go to the scheduler's inbox.
 *
 * ```ts
 * const ctx = await startServiceContext({ config, service: "coordinator", instance: "coord-1", log });
 * const coordinator = await startCoordinator(ctx, { port: 8888 });
 * await fetch(`${coordinator.url}/api/v1/nodes/online`);
 * await coordinator.stop();
 * await ctx.close();
 * ```
 */
export { type Coordinator, type CoordinatorOptions, startCoordinator } from "./coordinator.js";
export { applyMigrations, MIGRATIONS, type Migration } from "./db/migrations.js";
export { NodeStore, openStore, type StreamEvent } from "./db/node-store.js";
export type { EventRow, NodeRow, StatusTotals, TaskEventRow, TaskListRow, TaskRow } from "./db/rows.js";
export { type TaskFilter, TaskStore } from "./db/task-store.js";
export {
  type Api,
  type ApiDeps,
  buildApi,
  type NatsState,
  type TaskSettings,
  taskSettings,
} from "./http/api.js";
export {
  ClusterHealthJson,
  ErrorJson,
  NodeEventJson,
  NodeHealthJson,
  NodeJson,
  ServiceHealthJson,
} from "./http/schemas.js";
export {
  SubmittedJson,
  TaskJson,
  TaskPageJson,
  TaskResultJson,
  TaskSummaryJson,
} from "./http/task-schemas.js";
export { deriveStatus, NODE_STATUSES, type NodeStatus, type StatusInputs, UP_STATUSES } from "./status.js";
export { natsTaskBus, type TaskBus } from "./task-bus.js";
