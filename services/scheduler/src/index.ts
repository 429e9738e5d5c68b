/**
 * The scheduler service: places tasks on nodes. Active + standby by leader lease.
 *
 * ```ts
 * const scheduler = await startScheduler(ctx);
 * scheduler.isLeader();
 * ```
 */
export { backoffMs } from "./backoff.js";
export { eligibleNodes, type NodeView, place, rendezvous } from "./placement.js";
export { DelayQueue, PendingQueue, placementClass } from "./queue.js";
export { SCHEDULER_ROLE, type Scheduler, startScheduler } from "./scheduler.js";
