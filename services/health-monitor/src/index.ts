/**
 * The health monitor service: decides which nodes are online, suspect or offline from their
 * heartbeats, keeps the `node_health` bucket and publishes node suspect/offline/online events.
 * Run two: one is active by leader lease, the other stands by warm.
 *
 * ```ts
 * const monitor = await startHealthMonitor(ctx);
 * monitor.isLeader();
 * await monitor.stop();
 * ```
 */
export { HEALTH_MONITOR_ROLE, type HealthMonitor, startHealthMonitor } from "./monitor.js";
export { HealthTracker, type TrackerOptions, type Transition } from "./tracker.js";
