import {
  type Cluster,
  CONSUME_EXPIRES_MS,
  decode,
  encode,
  ensureRegistryConsumer,
  errorMessage,
  isCasConflict,
  type JsMsg,
  pause,
  type ServiceContext,
} from "@openclaw/bus";
import { counter } from "@openclaw/metrics";
import {
  envelope,
  NodeDrain,
  type NodeEvent,
  NodeHeartbeat,
  NodeLeave,
  NodeRecord,
  NodeRegister,
} from "@openclaw/protocol";
import { applyNodeMessage, type NodeMessage } from "./apply.js";

const registryMessages = counter("openclaw_registry_messages_total", "Node messages applied, by kind", [
  "kind",
]);
const registryEvents = counter(
  "openclaw_registry_node_events_total",
  "Node events announced (joined, updated, left)",
  ["kind"],
);

export interface Registry {
  stop(): Promise<void>;
}

const SCHEMAS = {
  register: NodeRegister,
  heartbeat: NodeHeartbeat,
  leave: NodeLeave,
  drain: NodeDrain,
} as const;
/** A worker is asked to re-register at most this often. */
const REREGISTER_EVERY_MS = 5000;

interface Known {
  record: NodeRecord | undefined;
  /** KV revision of `record`; 0 when the key does not exist. */
  revision: number;
}

/**
 * The registry: consumes the NODES stream through one durable consumer shared by every replica
 * (so replicas split the work) and keeps the `nodes` KV bucket, writing by compare-and-set.
 */
export async function startRegistry(ctx: ServiceContext): Promise<Registry> {
  const { cluster, log } = ctx;
  const { names } = cluster;
  /** What this replica last wrote per node: a starting point for compare-and-set, never trusted alone. */
  const cache = new Map<string, Known>();
  const lastReregister = new Map<string, number>();
  const abort = new AbortController();
  let messages: { close(): Promise<unknown> } | undefined;

  function parse(m: JsMsg): NodeMessage | undefined {
    const parts = names.parseNodeSubject(m.subject);
    const kind = parts?.kind as keyof typeof SCHEMAS | undefined;
    if (!parts || !kind || !(kind in SCHEMAS)) {
      log.warn({ subject: m.subject, error_code: "OC-2002" }, "message on an unknown node subject dropped");
      return undefined;
    }
    const decoded = decode(SCHEMAS[kind], m.data);
    if (!decoded.ok) {
      log.warn(
        { subject: m.subject, error_code: "OC-2002", error: decoded.error },
        "invalid node message dropped",
      );
      return undefined;
    }
    const msg = { kind, body: decoded.value } as NodeMessage;
    const bodyId = msg.kind === "register" ? msg.body.node.node_id : msg.body.node_id;
    if (bodyId !== parts.nodeId) {
      log.warn(
        { subject: m.subject, node_id: parts.nodeId, error_code: "OC-2002" },
        `node message dropped: body is for node '${bodyId}'`,
      );
      return undefined;
    }
    return msg;
  }

  async function read(nodeId: string): Promise<Known> {
    const entry = await cluster.kv.nodes.get(nodeId);
    if (entry?.operation !== "PUT") return { record: undefined, revision: entry?.revision ?? 0 };
    const decoded = decode(NodeRecord, entry.value);
    if (!decoded.ok) {
      log.error(
        { node_id: nodeId, error_code: "OC-2002", error: decoded.error },
        "stored node record is invalid; replacing it",
      );
    }
    return { record: decoded.ok ? decoded.value : undefined, revision: entry.revision };
  }

  async function write(nodeId: string, known: Known, record: NodeRecord): Promise<number> {
    const value = encode(record);
    return known.revision === 0
      ? cluster.kv.nodes.create(nodeId, value)
      : cluster.kv.nodes.update(nodeId, value, known.revision);
  }

  async function handle(m: JsMsg): Promise<void> {
    const msg = parse(m);
    if (!msg) {
      m.term();
      registryMessages.inc({ kind: "invalid" });
      return;
    }
    registryMessages.inc({ kind: msg.kind });
    const nodeId = msg.kind === "register" ? msg.body.node.node_id : msg.body.node_id;
    const at = m.time.toISOString();
    let known = cache.get(nodeId) ?? (await read(nodeId));
    let fresh = !cache.has(nodeId);
    for (let attempt = 0; attempt < 50; attempt++) {
      // An event an earlier handler wrote but may not have published: publish it now (its id makes
      // a repeat a no-op) and clear it with the write below.
      const pending = known.record?.pending_event;
      if (known.record && pending) await publishEvent(cluster, ctx, known.record, pending);
      const base = known.record && pending ? { ...known.record, pending_event: null } : known.record;
      const outcome = applyNodeMessage(base, msg, m.seq, at);
      if (outcome.action !== "write") {
        if (!fresh) {
          // Decided from this replica's cache: another replica may know better. Look once more.
          known = await read(nodeId);
          fresh = true;
          continue;
        }
        if (outcome.action === "reregister") requestReregister(nodeId, outcome.why);
        if (base && pending) await clearPending(nodeId, known, base);
        break;
      }
      try {
        const revision = await write(nodeId, known, outcome.record);
        known = { record: outcome.record, revision };
        cache.set(nodeId, known);
      } catch (err) {
        if (!isCasConflict(err)) throw err;
        known = await read(nodeId); // another replica wrote first: re-read and re-apply
        fresh = true;
        continue;
      }
      const event = outcome.record.pending_event;
      if (event) {
        await publishEvent(cluster, ctx, outcome.record, event);
        registryEvents.inc({ kind: event.kind });
        log.info({ node_id: nodeId, event: event.kind }, `node ${event.kind}`);
        await clearPending(nodeId, known, { ...outcome.record, pending_event: null });
      }
      break;
    }
    m.ack();
  }

  /** Clears a published pending event; if the record moved on, whoever moved it saw and published it. */
  async function clearPending(nodeId: string, known: Known, cleared: NodeRecord): Promise<void> {
    try {
      const revision = await write(nodeId, known, cleared);
      cache.set(nodeId, { record: cleared, revision });
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      cache.delete(nodeId);
    }
  }

  function requestReregister(nodeId: string, why: string): void {
    const now = Date.now();
    if ((lastReregister.get(nodeId) ?? 0) + REREGISTER_EVERY_MS > now) return;
    lastReregister.set(nodeId, now);
    log.info({ node_id: nodeId, reason: why }, "asking node to register again");
    cluster.nc.publish(
      names.subjects.nodeCommand(nodeId, "reregister"),
      encode({ ...envelope(ctx.sender), reason: why }),
    );
  }

  /** Consumes until stopped; if the durable consumer disappears, it is created again. */
  const loop = (async () => {
    while (!abort.signal.aborted) {
      try {
        await ensureRegistryConsumer(cluster.jsm, names);
        const consumer = await cluster.js.consumers.get(names.streams.nodes, names.consumers.registry);
        const iter = await consumer.consume({ max_messages: 512, expires: CONSUME_EXPIRES_MS });
        messages = iter;
        if (abort.signal.aborted) await iter.close();
        void (async () => {
          for await (const s of iter.status()) {
            if (
              s.type === "consumer_deleted" ||
              s.type === "consumer_not_found" ||
              s.type === "stream_not_found"
            ) {
              log.warn(
                { consumer: names.consumers.registry, status: s.type },
                "registry consumer is gone; recreating it",
              );
              await iter.close();
            }
          }
        })().catch(() => undefined);
        for await (const m of iter) {
          try {
            await handle(m);
          } catch (err) {
            cache.delete(m.subject.split(".")[2] ?? "");
            log.error(
              { subject: m.subject, error: errorMessage(err), error_code: "OC-5000" },
              "node message failed; will retry",
            );
            m.nak(1000);
          }
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        log.warn({ error: errorMessage(err) }, "consuming node messages failed; retrying");
      }
      await pause(1000, abort.signal);
    }
  })();

  log.info(
    { stream: names.streams.nodes, consumer: names.consumers.registry },
    "registry consuming node messages",
  );
  return {
    async stop() {
      if (abort.signal.aborted) return;
      abort.abort();
      await messages?.close();
      await loop.catch(() => undefined);
    },
  };
}

async function publishEvent(
  cluster: Cluster,
  ctx: ServiceContext,
  record: NodeRecord,
  pending: NonNullable<NodeRecord["pending_event"]>,
): Promise<void> {
  const nodeId = record.node.node_id;
  // The id is the NODES sequence that caused the event, so re-publishing it is deduplicated.
  const base = { ...envelope(ctx.sender), id: `reg-${pending.seq}`, node_id: nodeId };
  const event: NodeEvent =
    pending.kind === "joined"
      ? { ...base, kind: "joined", node: record.node, registered_at: record.registered_at }
      : pending.kind === "updated"
        ? { ...base, kind: "updated", node: record.node }
        : { ...base, kind: "left", reason: pending.reason };
  await cluster.js.publish(cluster.names.subjects.nodeEvent(nodeId, pending.kind), encode(event), {
    msgID: event.id,
  });
}
