import type { KV } from "@nats-io/kv";
import type { Logger } from "@openclaw/log";
import { type LeaseRecord, LeaseRecord as LeaseSchema } from "@openclaw/protocol";
import { decode, encode } from "./codec.js";
import { errorMessage, isCasConflict } from "./errors.js";

export interface LeaderLeaseOptions {
  kv: KV;
  /** The role, also the key in the leases bucket (`health-monitor`, `scheduler`). */
  role: string;
  /** This process's instance id. */
  holder: string;
  /** The configured election timeout; the bucket's own TTL is used when it is shorter. */
  ttlMs: number;
  renewMs: number;
  log: Logger;
  /**
   * Called when this process wins the lease, with its term (the KV revision that won). The process
   * is leader only once this resolves; if it throws, the lease is given up so another can take it.
   */
  onElected?: (term: number) => void | Promise<void>;
  /** Called when this process stops being leader (lost the lease, or stepped down). */
  onLost?: () => void | Promise<void>;
}

/**
 * Leader election by lease in a KV bucket whose TTL is the election timeout. The leader renews by
 * compare-and-set on the key's revision; a standby creates the key once it is gone. The leader
 * gives up locally one renew interval before the server could expire its lease (measured from the
 * start of its last successful write, on a monotonic clock), so two leaders never act at once.
 */
export class LeaderLease {
  readonly #o: LeaderLeaseOptions;
  /** Revision of our last write to the key; 0 when we hold nothing. */
  #revision = 0;
  #term = 0;
  #acquiredAt = "";
  /** When this term's lease was taken (monotonic clock). */
  #acquiredMono = 0;
  #leaderUntil = 0;
  /** True once onElected has finished: a new leader acts only after it has taken over its state. */
  #ready = false;
  #ttl: number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #ticking = false;
  #holderSeen: string | undefined;
  /** The tick running now, so a resignation can wait for a renewal in flight. */
  #inFlight: Promise<void> = Promise.resolve();
  /** After a resignation, no campaign before this (monotonic clock), so a standby can win. */
  #holdUntil = 0;

  constructor(options: LeaderLeaseOptions) {
    this.#o = options;
    this.#ttl = options.ttlMs;
  }

  /** True while this process holds a live lease and has finished taking over. */
  isLeader(): boolean {
    return this.#ready && this.#revision > 0 && performance.now() < this.#leaderUntil;
  }

  /** The current term when leader, else 0. Monotonic across leaders of a role. */
  get term(): number {
    return this.isLeader() ? this.#term : 0;
  }

  /** The role, the key in the leases bucket. */
  get role(): string {
    return this.#o.role;
  }

  /** This process's instance id, as written into the lease. */
  get holder(): string {
    return this.#o.holder;
  }

  /** How long this instance has led in its current term (since it took the lease); 0 when not leader. */
  ledForMs(): number {
    return this.isLeader() ? performance.now() - this.#acquiredMono : 0;
  }

  /** The lease's TTL (the election timeout): the configured one, or the bucket's when shorter. */
  get ttlMs(): number {
    return this.#ttl;
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
    await this.stepDown("stopping");
  }

  /** Gives up leadership now and releases the key (keeps campaigning if still running). */
  async stepDown(reason = "stepped down"): Promise<void> {
    if (this.#revision === 0) return;
    const revision = this.#revision;
    await this.#lose(reason);
    try {
      await this.#o.kv.delete(this.#o.role, { previousSeq: revision });
    } catch {
      // Someone else holds it already, or NATS is away: either way the lease lapses by its TTL.
    }
  }

  /**
   * Steps down (releasing the key) and stays out of the election for `holdOffMs` from then on
   * (default: one election timeout), so a standby wins it; if none does, this instance takes the
   * lease again afterwards, in a new term. Keeps campaigning after that while running.
   */
  async resign(reason = "resigned", holdOffMs = this.#ttl): Promise<void> {
    this.#holdUntil = Number.POSITIVE_INFINITY;
    // A renewal in flight would write the key back after we released it: let it finish first.
    while (this.#ticking) await this.#inFlight;
    try {
      await this.stepDown(reason);
    } finally {
      this.#holdUntil = performance.now() + holdOffMs;
    }
    this.#o.log.info(
      { role: this.#o.role, hold_off_ms: holdOffMs },
      "stepped down; staying out of the next election",
    );
  }

  async #lose(reason: string): Promise<void> {
    const wasLeader = this.#ready;
    this.#ready = false;
    this.#revision = 0;
    this.#term = 0;
    this.#leaderUntil = 0;
    if (wasLeader) {
      this.#o.log.warn({ role: this.#o.role, reason }, "leadership lost");
      await this.#o.onLost?.();
    }
  }

  #tick(): Promise<void> {
    if (this.#ticking || !this.#running) return this.#inFlight;
    this.#ticking = true;
    this.#inFlight = this.#tickOnce();
    return this.#inFlight;
  }

  async #tickOnce(): Promise<void> {
    const started = performance.now();
    try {
      if (this.#revision > 0) {
        if (started >= this.#leaderUntil) await this.#lose("lease expired before it could be renewed");
        else await this.#renew(started);
      }
      if (this.#revision === 0 && this.#running && started >= this.#holdUntil) await this.#campaign(started);
    } catch (err) {
      this.#o.log.warn({ role: this.#o.role, error: errorMessage(err) }, "lease tick failed; retrying");
    } finally {
      this.#ticking = false;
    }
  }

  #record(): LeaseRecord {
    const now = new Date().toISOString();
    return {
      role: this.#o.role,
      holder: this.#o.holder,
      term: Math.max(1, this.#term),
      acquired_at: this.#acquiredAt || now,
      renewed_at: now,
    };
  }

  #extend(started: number): void {
    this.#leaderUntil = started + this.#ttl - this.#o.renewMs;
  }

  async #renew(started: number): Promise<void> {
    try {
      this.#revision = await this.#o.kv.update(this.#o.role, encode(this.#record()), this.#revision);
      this.#extend(started);
    } catch (err) {
      if (isCasConflict(err)) await this.#lose("another instance holds the lease");
      else
        this.#o.log.warn({ role: this.#o.role, error: errorMessage(err) }, "lease renewal failed; retrying");
    }
  }

  /** The bucket's TTL bounds how long a lease lives, whatever this process was configured with. */
  async #refreshTtl(): Promise<void> {
    const status = await this.#o.kv.status();
    const bucketTtl = status.ttl;
    const ttl = bucketTtl > 0 ? Math.min(bucketTtl, this.#o.ttlMs) : this.#o.ttlMs;
    if (ttl <= this.#o.renewMs) {
      this.#o.log.error(
        { role: this.#o.role, ttl_ms: ttl, renew_ms: this.#o.renewMs, error_code: "OC-1001" },
        "the lease TTL is not longer than the renew interval: this instance can never lead",
      );
    }
    if (ttl !== this.#ttl) {
      this.#o.log.warn(
        { role: this.#o.role, configured_ms: this.#o.ttlMs, bucket_ms: bucketTtl },
        "lease TTL differs from config; using the shorter",
      );
      this.#ttl = ttl;
    }
  }

  async #campaign(started: number): Promise<void> {
    let revision: number;
    try {
      revision = await this.#o.kv.create(this.#o.role, encode({ ...this.#record(), term: 1 }));
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      await this.#standBy(started);
      return;
    }
    await this.#takeOver(revision, started);
  }

  /** The key exists. If it is our own (renewals failed for a while), take it back. */
  async #standBy(started: number): Promise<void> {
    const entry = await this.#o.kv.get(this.#o.role);
    if (entry?.operation !== "PUT") return;
    const rec = decode(LeaseSchema, entry.value);
    const holder = rec.ok ? rec.value.holder : undefined;
    if (holder === this.#o.holder) {
      try {
        const revision = await this.#o.kv.update(this.#o.role, encode(this.#record()), entry.revision);
        await this.#takeOver(revision, started);
      } catch (err) {
        if (!isCasConflict(err)) throw err;
      }
      return;
    }
    if (holder !== this.#holderSeen) {
      this.#holderSeen = holder;
      this.#o.log.info({ role: this.#o.role, leader: holder }, "standing by; another instance is leader");
    }
  }

  async #takeOver(revision: number, started: number): Promise<void> {
    this.#revision = revision;
    this.#term = revision;
    this.#acquiredAt = new Date().toISOString();
    this.#acquiredMono = performance.now();
    try {
      await this.#refreshTtl();
      this.#extend(started);
      // The term is the winning revision; write it into the record so readers can see it.
      this.#revision = await this.#o.kv.update(this.#o.role, encode(this.#record()), revision);
    } catch (err) {
      this.#o.log.error(
        { role: this.#o.role, error: errorMessage(err) },
        "taking over failed; giving the lease up",
      );
      await this.stepDown("taking over failed");
      return;
    }
    // The takeover (rebuilding state) runs beside the tick loop, which keeps renewing meanwhile.
    const term = revision;
    void (async () => {
      try {
        await this.#o.onElected?.(term);
      } catch (err) {
        this.#o.log.error(
          { role: this.#o.role, error: errorMessage(err) },
          "taking over failed; giving the lease up",
        );
        if (this.#term === term) await this.stepDown("taking over failed");
        return;
      }
      if (this.#term !== term) return; // lost the lease while taking over
      this.#ready = true;
      this.#holderSeen = this.#o.holder;
      this.#o.log.info({ role: this.#o.role, term }, "elected leader");
    })();
  }
}
