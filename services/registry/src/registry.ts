import { type Cluster, decode, encode, type JsMsg, type ServiceContext } from "@openclaw/bus";
import {
  envelope,
  type NodeEvent,
  NodeHeartbeat,
  NodeLeave,
  NodeRecord,
  NodeRegister,
} from "@openclaw/protocol";
import { applyNodeMessage, type NodeEventKind, type NodeMessage } from "./apply.js";

export interface Registry {
  stop(): Promise<void>;
}

const SCHEMAS = { register: NodeRegister, heartbeat: NodeHeartbeat, leave: NodeLeave } as const;
/** A worker is asked to re-register at most this often. */
const REREGISTER_EVERY_MS = 5000;

/**
 * The registry: consumes the NODES stream through one durable consumer shared by every replica
 * (so replicas split the work) and keeps the `nodes` KV bucket, writing by compare-and-set.
 */
export async function startRegistry(ctx: ServiceContext): Promise<Registry> {
  const { cluster, log } = ctx;
  const { names } = cluster;
  /** Last record and revision this replica wrote or read per node: saves a read per heartbeat. */
  const cache = new Map<string, { record: NodeRecord | undefined; revision: number }>();
  const lastReregister = new Map<string, number>();

  const consumer = await cluster.js.consumers.get(names.streams.nodes, names.consumers.registry);
  const messages = await consumer.consume({ max_messages: 512 });
  let stopped = false;

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
    const bodyId =
      kind === "register"
        ? (decoded.value as NodeRegister).node.node_id
        : (decoded.value as NodeHeartbeat).node_id;
    if (bodyId !== parts.nodeId) {
      log.warn(
        { subject: m.subject, node_id: parts.nodeId, error_code: "OC-2002" },
        `node message dropped: body is for node '${bodyId}'`,
      );
      return undefined;
    }
    return { kind, body: decoded.value } as NodeMessage;
  }

  async function read(nodeId: string): Promise<{ record: NodeRecord | undefined; revision: number }> {
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

  async function handle(m: JsMsg): Promise<void> {
    const msg = parse(m);
    if (!msg) {
      m.term();
      return;
    }
    const nodeId = msg.kind === "register" ? msg.body.node.node_id : msg.body.node_id;
    const at = m.time.toISOString();
    let state = cache.get(nodeId) ?? (await read(nodeId));
    const reason = msg.kind === "leave" ? msg.body.reason : "";
    for (let attempt = 0; attempt < 20; attempt++) {
      const outcome = applyNodeMessage(state.record, msg, m.seq, at);
      if (outcome.action === "ignore") {
        // Already written by an earlier delivery that may have died before publishing its event.
        if (outcome.republish && state.record) {
          await publishEvent(cluster, ctx, nodeId, outcome.republish, state.record, m.seq, reason);
        }
        break;
      }
      if (outcome.action === "reregister") {
        requestReregister(nodeId, outcome.why);
        break;
      }
      // Write first, publish after: only the replica whose compare-and-set wins announces the
      // change, and the event's message id (the NODES sequence) makes a re-publish a no-op.
      try {
        const value = encode(outcome.record);
        const revision =
          state.revision === 0
            ? await cluster.kv.nodes.create(nodeId, value)
            : await cluster.kv.nodes.update(nodeId, value, state.revision);
        cache.set(nodeId, { record: outcome.record, revision });
      } catch (err) {
        if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
        state = await read(nodeId); // another replica wrote first: re-read and re-apply
        continue;
      }
      if (outcome.event) {
        await publishEvent(cluster, ctx, nodeId, outcome.event, outcome.record, m.seq, reason);
        log.info({ node_id: nodeId, event: outcome.event }, `node ${outcome.event}`);
      }
      break;
    }
    m.ack();
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

  const loop = (async () => {
    for await (const m of messages) {
      try {
        await handle(m);
      } catch (err) {
        cache.clear();
        log.error(
          { subject: m.subject, error: (err as Error).message, error_code: "OC-5000" },
          "node message failed; will retry",
        );
        m.nak(1000);
      }
    }
  })();

  log.info(
    { stream: names.streams.nodes, consumer: names.consumers.registry },
    "registry consuming node messages",
  );
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await messages.close();
      await loop.catch(() => undefined);
    },
  };
}

async function publishEvent(
  cluster: Cluster,
  ctx: ServiceContext,
  nodeId: string,
  kind: NodeEventKind,
  record: NodeRecord,
  seq: number,
  reason: string,
): Promise<void> {
  const base = { ...envelope(ctx.sender), id: `${cluster.names.streams.nodes}-${seq}`, node_id: nodeId };
  const event: NodeEvent =
    kind === "joined"
      ? { ...base, kind, node: record.node, registered_at: record.registered_at }
      : kind === "updated"
        ? { ...base, kind, node: record.node }
        : { ...base, kind, reason: reason || "left the cluster" };
  await cluster.js.publish(cluster.names.subjects.nodeEvent(nodeId, kind), encode(event), {
    msgID: event.id,
  });
}
