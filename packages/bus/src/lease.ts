import type { KV } from "@nats-io/kv";
import type { Logger } from "@openclaw/log";
import { type LeaseRecord, LeaseRecord as LeaseSchema } from "@openclaw/protocol";
import { decode, encode } from "./codec.js";

export interface LeaderLeaseOptions {
  kv: KV;
  /** The role, also the key in the leases bucket (`health-monitor`, `scheduler`). */
  role: string;
  /** This process's instance id. */
  holder: string;
  /** The bucket's TTL: how long a lease lives without renewal. */
  ttlMs: number;
  renewMs: number;
  log: Logger;
  /** Called when this process becomes leader, with its term (the KV revision that won). */
  onElected?: (term: number) => void | Promise<void>;
  /** Called when this process stops being leader (lost the lease, or stepped down). */
  onLost?: () => void | Promise<void>;
}

/**
 * Leader election by lease in a KV bucket whose TTL is the election timeout. The leader renews by
 * compare-and-set on the key's revision; a standby creates the key once it has expired. The leader
 * gives up leadership locally one renew interval before the server could expire its lease, so
 * two leaders never act at once.
 */
export class LeaderLease {
  readonly #o: LeaderLeaseOptions;
  #revision = 0;
  #term = 0;
  #leaderUntil = 0;
  /** Set once onElected has finished: a new leader acts only after it has taken over its state. */
  #ready = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #ticking = false;
  #holderSeen: string | undefined;

  constructor(options: LeaderLeaseOptions) {
    this.#o = options;
  }

  /** True while this process holds a live lease. */
  isLeader(): boolean {
    return this.#ready && this.#revision > 0 && performance.now() < this.#leaderUntil;
  }

  /** The current term when leader, else 0. */
  get term(): number {
    return this.isLeader() ? this.#term : 0;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.#o.renewMs);
  }

  /** Stops campaigning; a leader deletes its lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    await this.stepDown();
  }

  /** Gives up leadership now (keeps campaigning if still running). */
  async stepDown(): Promise<void> {
    if (this.#revision === 0) return;
    const revision = this.#revision;
    await this.#lose("stepped down");
    try {
      await this.#o.kv.delete(this.#o.role, { previousSeq: revision });
    } catch {
      // Someone else already holds it, or NATS is gone: either way the lease lapses by TTL.
    }
  }

  async #lose(reason: string): Promise<void> {
    const was = this.#revision > 0;
    this.#ready = false;
    this.#revision = 0;
    this.#term = 0;
    this.#leaderUntil = 0;
    if (was) {
      this.#o.log.warn({ role: this.#o.role, reason }, "leadership lost");
      await this.#o.onLost?.();
    }
  }

  async #tick(): Promise<void> {
    if (this.#ticking || !this.#running) return;
    this.#ticking = true;
    const started = performance.now();
    try {
      if (this.#revision > 0) {
        if (started >= this.#leaderUntil) await this.#lose("lease expired before it could be renewed");
        else await this.#renew(started);
      }
      if (this.#revision === 0 && this.#running) await this.#campaign(started);
    } finally {
      this.#ticking = false;
    }
  }

  #record(acquiredAt?: string): LeaseRecord {
    const now = new Date().toISOString();
    return {
      role: this.#o.role,
      holder: this.#o.holder,
      term: Math.max(1, this.#term),
      acquired_at: acquiredAt ?? now,
      renewed_at: now,
    };
  }

  #deadline(started: number): number {
    return started + this.#o.ttlMs - this.#o.renewMs;
  }

  async #renew(started: number): Promise<void> {
    try {
      const current = await this.#o.kv.get(this.#o.role);
      const acquired = current ? decode(LeaseSchema, current.value) : undefined;
      const rec = this.#record(acquired?.ok ? acquired.value.acquired_at : undefined);
      this.#revision = await this.#o.kv.update(this.#o.role, encode(rec), this.#revision);
      this.#leaderUntil = this.#deadline(started);
    } catch (err) {
      const message = (err as Error).message;
      if (/wrong last sequence|key exists/i.test(message))
        await this.#lose("another instance holds the lease");
      else this.#o.log.warn({ role: this.#o.role, error: message }, "lease renewal failed; retrying");
    }
  }

  async #campaign(started: number): Promise<void> {
    try {
      const revision = await this.#o.kv.create(this.#o.role, encode(this.#record()));
      this.#revision = revision;
      this.#term = revision;
      this.#leaderUntil = this.#deadline(started);
      // The term is the winning revision; write it into the record so readers can see it.
      this.#revision = await this.#o.kv.update(this.#o.role, encode(this.#record()), revision);
      this.#leaderUntil = this.#deadline(started);
      await this.#o.onElected?.(revision);
      if (this.#revision === 0) return; // lost while taking over
      this.#ready = true;
      this.#o.log.info({ role: this.#o.role, term: revision }, "elected leader");
    } catch (err) {
      const message = (err as Error).message;
      if (!/wrong last sequence|key exists/i.test(message)) {
        this.#o.log.warn({ role: this.#o.role, error: message }, "lease campaign failed; retrying");
        return;
      }
      const entry = await this.#o.kv.get(this.#o.role).catch(() => null);
      const rec = entry ? decode(LeaseSchema, entry.value) : undefined;
      const holder = rec?.ok ? rec.value.holder : undefined;
      if (holder !== this.#holderSeen) {
        this.#holderSeen = holder;
        this.#o.log.info({ role: this.#o.role, leader: holder }, "standing by; another instance is leader");
      }
    }
  }
}
