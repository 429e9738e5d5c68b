import { RequestError, TimeoutError } from "@nats-io/transport-node";
import {
  ElectReply,
  ElectRequest,
  type ElectSteppedDown,
  envelope,
  LEADER_ROLES,
  LeaseRecord,
  OcError,
  type Sender,
} from "@openclaw/protocol";
import { decode, encode } from "./codec.js";
import { errorMessage } from "./errors.js";
import type { LeaderLease } from "./lease.js";
import type { Cluster } from "./provision.js";
import type { ServiceContext } from "./service-context.js";

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export interface ElectionResponder {
  /** Stops answering (the connection's close ends it too). */
  stop(): void;
}

/**
 * Answers `<prefix>.ctl.elect.<role>` while `lease` leads: replies with who steps down and in
 * which term, then resigns, staying out of the next election for one election timeout so a
 * standby wins it (alone, it leads again afterwards in a new term). Standbys never answer.
 */
export function serveElection(ctx: ServiceContext, lease: LeaderLease): ElectionResponder {
  const { cluster, log } = ctx;
  const role = lease.role;
  const subject = cluster.names.subjects.elect(role);
  let resigning = false;
  const sub = cluster.nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err || resigning || !lease.isLeader() || !msg.reply) return;
      const req = decode(ElectRequest, msg.data);
      if (!req.ok || req.value.role !== role) {
        log.debug({ subject, error_code: "OC-2002" }, "invalid elect request ignored");
        return;
      }
      // One election timeout between elections at least: a leader elected less than that ago
      // refuses (hardening item 8: repeated elects kept the only scheduler out ~85% of the time).
      const ledForMs = lease.ledForMs();
      if (ledForMs < lease.ttlMs) {
        const retryAfterMs = Math.ceil(lease.ttlMs - ledForMs);
        const refusal: ElectReply = {
          ...envelope(ctx.sender, req.value.trace_id),
          role,
          holder: lease.holder,
          term: lease.term,
          stepped_down: false,
          retry_after_ms: retryAfterMs,
          message: `the ${role} leader ${lease.holder} was elected ${seconds(ledForMs)} ago (term ${lease.term}); a new election is refused within one election timeout (${seconds(lease.ttlMs)}) of the last: try again in ${seconds(retryAfterMs)}`,
        };
        msg.respond(encode(refusal));
        log.info(
          { role, term: lease.term, requested_by: req.value.sender.instance, retry_after_ms: retryAfterMs },
          "elect request refused: elected less than one election timeout ago",
        );
        return;
      }
      const holdOffMs = lease.ttlMs;
      const reply: ElectReply = {
        ...envelope(ctx.sender, req.value.trace_id),
        role,
        holder: lease.holder,
        term: lease.term,
        stepped_down: true,
        hold_off_ms: holdOffMs,
      };
      msg.respond(encode(reply));
      log.warn(
        { role, term: reply.term, requested_by: req.value.sender.instance, reason: req.value.reason },
        "stepping down on request; a new election follows",
      );
      resigning = true;
      lease
        .resign(`asked to step down by ${req.value.sender.instance}`, holdOffMs)
        .catch((e) => log.warn({ role, error: errorMessage(e) }, "stepping down failed"))
        .finally(() => {
          resigning = false;
        });
    },
  });
  return {
    stop() {
      try {
        if (!sub.isClosed()) sub.unsubscribe();
      } catch {
        // The connection is closed already, and the subscription with it.
      }
    },
  };
}

/** A role's current leader as its lease in the `leases` bucket says. */
export interface LeaderInfo {
  role: string;
  holder: string;
  term: number;
  acquired_at: string;
  renewed_at: string;
  /** When the server expires the lease unless it is renewed: its last write + the bucket's TTL. */
  expires_at: string;
}

export interface Leaders {
  /** The leases bucket's TTL: the election timeout. */
  ttlMs: number;
  /** Each role's leader, or null when nobody leads it. */
  leaders: Record<string, LeaderInfo | null>;
}

/** Reads every role's lease straight from the `leases` bucket. */
export async function readLeaders(
  cluster: Cluster,
  roles: readonly string[] = LEADER_ROLES,
): Promise<Leaders> {
  const kv = cluster.kv.leases;
  const ttlMs = (await kv.status()).ttl;
  const leaders: Record<string, LeaderInfo | null> = {};
  for (const role of roles) {
    const entry = await kv.get(role);
    const rec = entry?.operation === "PUT" ? decode(LeaseRecord, entry.value) : undefined;
    if (!entry || !rec?.ok) {
      leaders[role] = null;
      continue;
    }
    // The server stamps each write and expires the key TTL after it (renewed_at is the holder's clock).
    const writtenAt = entry.created.getTime();
    leaders[role] = {
      role,
      holder: rec.value.holder,
      term: rec.value.term,
      acquired_at: rec.value.acquired_at,
      renewed_at: rec.value.renewed_at,
      expires_at: new Date(writtenAt + ttlMs).toISOString(),
    };
  }
  return { ttlMs, leaders };
}

export type ElectOutcome =
  | { role: string; ok: true; reply: ElectSteppedDown }
  /** `no_leader`: instances listen but none answered in time; `no_instance`: nothing listens. */
  | { role: string; ok: false; reason: "no_leader" | "no_instance"; message: string }
  /** `too_soon`: the leader refused, elected less than one election timeout ago (OC-4031). */
  | { role: string; ok: false; reason: "too_soon"; message: string; retryAfterMs: number };

/**
 * Asks `role`'s leader to step down (core request on `<prefix>.ctl.elect.<role>`) and waits up to
 * `timeoutMs` for its answer. Only the leader answers, so silence means nobody leads right now.
 */
export async function requestElection(
  cluster: Cluster,
  sender: Sender,
  role: string,
  options: { timeoutMs: number; reason?: string },
): Promise<ElectOutcome> {
  const subject = cluster.names.subjects.elect(role);
  const req: ElectRequest = {
    ...envelope(sender),
    role,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  };
  let data: Uint8Array;
  try {
    data = (await cluster.nc.request(subject, encode(req), { timeout: options.timeoutMs })).data;
  } catch (err) {
    if (err instanceof RequestError && err.isNoResponders()) {
      return { role, ok: false, reason: "no_instance", message: `no ${role} instance is running` };
    }
    if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
      return {
        role,
        ok: false,
        reason: "no_leader",
        message: `no ${role} leader answered within ${options.timeoutMs} ms`,
      };
    }
    throw new OcError("OC-5003", `the elect request for ${role} failed: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const reply = decode(ElectReply, data);
  if (!reply.ok || reply.value.role !== role) {
    throw new OcError("OC-2002", `the ${role} leader's answer is not a valid elect reply`);
  }
  if (!reply.value.stepped_down) {
    const { message, retry_after_ms } = reply.value;
    return { role, ok: false, reason: "too_soon", message, retryAfterMs: retry_after_ms };
  }
  return { role, ok: true, reply: reply.value };
}
