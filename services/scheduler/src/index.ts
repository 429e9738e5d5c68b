/**
 * The scheduler service: places tasks on nodes. Active + standby by leader lease.
 *
 * ```ts
 * const scheduler = await startScheduler(ctx);
 * scheduler.isLeader();
 * ```
 */
export { SCHEDULER_ROLE, type Scheduler, startScheduler } from "./scheduler.js";
