import type { Logger } from "@openclaw/log";
import type { NodeHealthRecord, NodeRecord } from "@openclaw/protocol";
import type { NodeStore } from "../db/node-store.js";

/**
 * Keeps only the latest record per node and writes them all in one transaction every
 * `intervalMs`: with one heartbeat per node per second, 1,000 nodes cost ten small
 * transactions a second instead of a thousand.
 */
export class WriteCoalescer {
  readonly #store: NodeStore;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #nodes = new Map<string, NodeRecord>();
  #health = new Map<string, NodeHealthRecord>();
  /** Health of nodes that have no row yet; applied once their record arrives. */
  readonly #waiting = new Map<string, NodeHealthRecord>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(store: NodeStore, log: Logger, intervalMs = 100) {
    this.#store = store;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  putNode(record: NodeRecord): void {
    this.#nodes.set(record.node.node_id, record);
    this.#schedule();
  }

  putHealth(record: NodeHealthRecord): void {
    this.#waiting.delete(record.node_id);
    this.#health.set(record.node_id, record);
    this.#schedule();
  }

  /** Writes everything pending now. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#nodes.size === 0 && this.#health.size === 0) return;
    const nodes = this.#nodes;
    const health = this.#health;
    this.#nodes = new Map();
    this.#health = new Map();
    for (const id of nodes.keys()) {
      const waiting = this.#waiting.get(id);
      if (waiting && !health.has(id)) health.set(id, waiting);
      this.#waiting.delete(id);
    }
    try {
      const unmatched = this.#store.applyBatch([...nodes.values()], [...health.values()]);
      for (const h of unmatched) this.#waiting.set(h.node_id, h);
    } catch (err) {
      this.#log.error(
        { error_code: "OC-5001", error: (err as Error).message, nodes: nodes.size },
        "writing node records to the read model failed; retrying",
      );
      // Put back what nothing newer has replaced, and try again on the next tick.
      for (const [id, r] of nodes) if (!this.#nodes.has(id)) this.#nodes.set(id, r);
      for (const [id, h] of health) if (!this.#health.has(id)) this.#health.set(id, h);
      this.#schedule();
    }
  }

  /** Stops the timer after one last flush. */
  stop(): void {
    this.flush();
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => this.flush(), this.#intervalMs);
  }
}
