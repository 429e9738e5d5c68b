/**
 * The registry service: owns the `nodes` KV bucket. Replicas share one durable consumer on the
 * NODES stream and write by compare-and-set, so any number can run at once.
 *
 * ```ts
 * const ctx = await startServiceContext({ config, service: "registry", instance, log });
 * const registry = await startRegistry(ctx);
 * // ...
 * await registry.stop(); await ctx.close();
 * ```
 */
export { applyNodeMessage, type NodeMessage, type Outcome } from "./apply.js";
export { type Registry, startRegistry } from "./registry.js";
