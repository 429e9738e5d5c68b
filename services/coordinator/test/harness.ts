import { encode, type ServiceContext, startServiceContext } from "@openclaw/bus";
import { ConfigSchema } from "@openclaw/config";
import { createLogger, type Logger, silentLogger } from "@openclaw/log";
import type { NodeEvent, NodeHealthRecord, NodeRecord } from "@openclaw/protocol";
import { type Coordinator, startCoordinator } from "../src/coordinator.js";

/** A logger whose JSON lines a test can read back. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    service: "coordinator",
    instance: "test",
    level: "debug",
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { log, lines };
}

/** Everything a test starts, stopped in reverse order by `closeAll()`. */
export class Harness {
  readonly #stops: (() => Promise<void>)[] = [];

  constructor(
    readonly natsUrl: string,
    readonly prefix: string,
  ) {}

  async context(options: { dbPath?: string; log?: Logger; instance?: string } = {}): Promise<ServiceContext> {
    const config = ConfigSchema.parse({
      cluster: { subject_prefix: this.prefix },
      communication: { nats_url: this.natsUrl },
      storage: { path: options.dbPath ?? "./unused.db" },
      coordinator: { port: 0, host: "127.0.0.1" },
    });
    const ctx = await startServiceContext({
      config,
      service: "coordinator",
      instance: options.instance ?? "test",
      log: options.log ?? silentLogger(),
    });
    this.#stops.push(() => ctx.close());
    return ctx;
  }

  async coordinator(ctx: ServiceContext): Promise<Coordinator> {
    const c = await startCoordinator(ctx);
    this.#stops.push(() => c.stop());
    return c;
  }

  async closeAll(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) await stop().catch(() => undefined);
  }
}

/** Writes like the registry and the health monitor do. */
export function writer(ctx: ServiceContext) {
  const { kv, js, names } = ctx.cluster;
  return {
    putNode: (r: NodeRecord) => kv.nodes.put(r.node.node_id, encode(r)),
    putHealth: (h: NodeHealthRecord) => kv.nodeHealth.put(h.node_id, encode(h)),
    publish: (e: NodeEvent) => js.publish(names.subjects.nodeEvent(e.node_id, e.kind), encode(e)),
  };
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export interface NodeJsonLike {
  node_id: string;
  status: string;
  available_skills: string[];
  running_tasks: number;
}

export interface EventJsonLike {
  seq: number;
  kind: string;
}
