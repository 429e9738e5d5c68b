import { basename } from "node:path";
import { pathToFileURL } from "node:url";
import { type ResourceLimits, Worker } from "node:worker_threads";
import { errorMessage } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import type { ErrorCode } from "@openclaw/protocol";
import type { SkillContext } from "../context.js";
import {
  type FromThread,
  THREAD_SOURCE,
  type ThreadData,
  type ThrownShape,
  type ToThread,
} from "./module-thread.js";
import { failure, type Outcome, thrown } from "./outcome.js";
import { statCached } from "./stat-cache.js";

/** What a module skill exports: `run(input, ctx)`, or a default function. */
export type SkillFunction = (input: unknown, ctx: never) => unknown;

/** The limits of a module skill's thread unless told otherwise. */
export const MODULE_THREAD_LIMITS: ResourceLimits = { maxOldGenerationSizeMb: 512 };

/** How long a skill gets to settle after its signal aborts before its thread is ended. */
export const ABORT_GRACE_MS = 1000;

/** How long a thread may stay idle before it is closed. */
export const IDLE_THREAD_MS = 60_000;

export interface ModulePoolOptions {
  /** At most this many threads in all. */
  maxThreads: number;
  /**
   * Attempts one thread runs side by side. 1 isolates every attempt in a thread of its own;
   * more share a thread (and its memory and start-up) among attempts of one module. @default 1
   */
  attemptsPerThread?: number;
  /** Where a thread that fails between attempts is reported. */
  log: Logger;
  /** @default MODULE_THREAD_LIMITS */
  resourceLimits?: ResourceLimits;
  /** @default ABORT_GRACE_MS */
  abortGraceMs?: number;
  /** @default IDLE_THREAD_MS */
  idleMs?: number;
}

/** The attempt a thread is running. */
interface Active {
  run: number;
  ctx: SkillContext;
  file: string;
  finish(out: Outcome, keep: boolean): void;
}

interface Thread {
  /** The file and its mtime: a changed file gets threads of its own. */
  key: string;
  file: string;
  worker: Worker;
  /** The attempts running on it, by run id. */
  active: Map<number, Active>;
  /**
   * Attempts handed this thread that have not started on it yet: counted as load at once, so
   * attempts acquiring in the same turn do not all take the one thread that looked idle.
   */
  reserved: number;
  /** Takes no more attempts; ends once those it runs are over (a stuck attempt, a changed file). */
  retiring: boolean;
  gone: boolean;
  idleSince: number;
  idleTimer?: NodeJS.Timeout;
}

/** Attempts on the thread, started or about to. */
function load(t: Thread): number {
  return t.active.size + t.reserved;
}

/** A thrown value rebuilt from its description, for `thrown()`. */
function rebuild(e: ThrownShape): unknown {
  if (!e.isError && e.message === undefined) return e.text;
  const err = Object.assign(new Error(typeof e.message === "string" ? e.message : ""), {
    retryable: e.retryable,
    nonRetryable: e.nonRetryable,
  });
  err.name = e.name;
  return err;
}

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);

function forwardLog(log: Logger, m: Extract<FromThread, { t: "log" }>): void {
  if (!LEVELS.has(m.level)) return;
  const target = m.bindings ? log.child(m.bindings) : log;
  const write = target[m.level as "info"] as (...args: unknown[]) => void;
  write.apply(target, m.args);
}

let tsxApiUrl: string | undefined;

/**
 * Runs module skills in long-lived threads (`node:worker_threads`), kept per module file and its
 * mtime: a thread imports its module once and runs up to `attemptsPerThread` attempts side by
 * side, many in its life. An attempt takes an idle thread of its file, else starts one while under
 * `maxThreads` (closing the longest idle thread of another file when full), else shares the least
 * busy thread of its file that has room; threads idle for `idleMs` are closed.
 *
 * Whatever escapes a skill's `run` (an uncaught exception, an unhandled rejection,
 * `process.exit()`, running out of memory) ends only its thread. An attempt alone on it fails with
 * OC-6001; attempts sharing it are reported lost (OC-6009: which one broke it cannot be told, and
 * the others are placed again without using up an attempt). A thread failing between attempts is
 * just discarded.
 */
export class ModulePool {
  readonly #o: ModulePoolOptions;
  readonly #threads = new Set<Thread>();
  /** The newest key seen per file: threads of older ones are closed once idle. */
  readonly #latest = new Map<string, string>();
  #waiters: (() => void)[] = [];
  #nextRun = 0;
  #closed = false;

  constructor(options: ModulePoolOptions) {
    this.#o = options;
  }

  /** How many threads are alive (running an attempt or idle). */
  get size(): number {
    return this.#threads.size;
  }

  /**
   * Runs one attempt of the module skill in `file`. Settles when `run` settles; when `ctx.signal`
   * aborts, the skill's signal aborts too and it gets `abortGraceMs` to settle, after which its
   * thread is terminated (which also ends a busy loop). Never throws.
   * A load failure (syntax error, a throwing top level) is OC-6001; no function to call is OC-6008.
   */
  async run(file: string, ctx: SkillContext): Promise<Outcome> {
    const aborted = failure("OC-6005", "aborted", false);
    const { signal } = ctx;
    if (signal.aborted) return aborted;
    let key: string;
    try {
      key = `${file}\0${(await statCached(file)).mtimeMs}`;
    } catch (err) {
      return failure("OC-6001", `cannot load ${basename(file)}: ${errorMessage(err)}`, false);
    }
    let tsxApi: string | undefined;
    if (/\.[cm]?ts$/.test(file)) {
      try {
        tsxApiUrl ??= import.meta.resolve("tsx/esm/api");
        tsxApi = tsxApiUrl;
      } catch (err) {
        return failure(
          "OC-6001",
          `cannot load ${basename(file)}: tsx not found: ${errorMessage(err)}`,
          false,
        );
      }
    }
    this.#latest.set(file, key);
    let thread: Thread | undefined;
    try {
      thread = await this.#acquire(file, key, tsxApi, signal);
    } catch (err) {
      return failure("OC-6001", `cannot start a thread for ${basename(file)}: ${errorMessage(err)}`, true);
    }
    if (!thread) return aborted;
    return this.#runOn(thread, file, ctx, aborted);
  }

  /** Terminates every thread; the pool starts no more. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#threads];
    for (const t of all) this.#discard(t);
    await Promise.all(all.map((t) => t.worker.terminate().catch(() => undefined)));
    this.#wake();
  }

  #runOn(thread: Thread, file: string, ctx: SkillContext, aborted: Outcome): Promise<Outcome> {
    const { signal } = ctx;
    const run = ++this.#nextRun;
    return new Promise<Outcome>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        const reason = signal.reason as { name?: unknown; message?: unknown } | undefined;
        this.#tell(thread, {
          t: "abort",
          run,
          name: typeof reason?.name === "string" ? reason.name : "AbortError",
          message: typeof reason?.message === "string" ? reason.message : "aborted",
        });
        grace = setTimeout(() => active.finish(aborted, false), this.#o.abortGraceMs ?? ABORT_GRACE_MS);
      };
      const active: Active = {
        run,
        ctx,
        file,
        finish: (out, keep) => {
          if (thread.active.get(run) !== active) return;
          thread.active.delete(run);
          clearTimeout(grace);
          signal.removeEventListener("abort", onAbort);
          // Not fit for more (a stuck attempt may still run on it): it ends once the others have.
          if (!keep || this.#closed || this.#latest.get(thread.file) !== thread.key) thread.retiring = true;
          if (load(thread) > 0) this.#wake();
          else if (thread.retiring || thread.gone) this.#discard(thread);
          else this.#release(thread);
          resolve(signal.aborted ? aborted : out);
        },
      };
      thread.reserved -= 1;
      thread.active.set(run, active);
      signal.addEventListener("abort", onAbort, { once: true });
      const c = ctx.config.allowedCommands;
      const sent = this.#tell(thread, {
        t: "run",
        run,
        input: ctx.payload,
        ctx: {
          taskId: ctx.taskId,
          attempt: ctx.attempt,
          nodeId: ctx.nodeId,
          lastCheckpoint: ctx.lastCheckpoint,
          config: { allowedCommands: [...c] },
        },
      });
      if (!sent)
        active.finish(
          failure("OC-6001", `cannot hand the attempt to ${basename(file)}'s thread`, true),
          false,
        );
    });
  }

  /** A thread for `key` with room, or a new one; undefined when `signal` aborts while waiting for room. */
  async #acquire(file: string, key: string, tsxApi: string | undefined, signal: AbortSignal) {
    const per = Math.max(1, this.#o.attemptsPerThread ?? 1);
    for (;;) {
      if (signal.aborted) return undefined;
      if (this.#closed) throw new Error("the worker is stopping");
      let idle: Thread | undefined;
      let roomy: Thread | undefined;
      let oldest: Thread | undefined;
      for (const t of this.#threads) {
        if (t.retiring) continue;
        if (t.key === key) {
          if (load(t) === 0) idle ??= t;
          else if (load(t) < per && (!roomy || load(t) < load(roomy))) roomy = t;
          continue;
        }
        // A thread of an older version of this file: closed now if idle, else once it is.
        if (t.file === file) {
          if (load(t) === 0) this.#discard(t);
          else t.retiring = true;
        } else if (load(t) === 0 && (!oldest || t.idleSince < oldest.idleSince)) oldest = t;
      }
      const take = idle ?? (this.#threads.size < this.#o.maxThreads ? undefined : roomy);
      if (take) {
        clearTimeout(take.idleTimer);
        take.worker.ref();
        take.reserved += 1;
        return take;
      }
      if (this.#threads.size >= this.#o.maxThreads && oldest) this.#discard(oldest);
      if (this.#threads.size < this.#o.maxThreads) {
        const t = this.#spawn(file, key, tsxApi);
        t.reserved += 1;
        return t;
      }
      if (roomy) {
        roomy.worker.ref();
        roomy.reserved += 1;
        return roomy;
      }
      // Every thread is full (some ending after an abort): wait for room.
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  #spawn(file: string, key: string, tsxApi: string | undefined): Thread {
    const data: ThreadData = { url: pathToFileURL(file).href, tsxApi };
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: data,
      resourceLimits: this.#o.resourceLimits ?? MODULE_THREAD_LIMITS,
    });
    const t: Thread = {
      key,
      file,
      worker,
      active: new Map(),
      reserved: 0,
      retiring: false,
      gone: false,
      idleSince: 0,
    };
    this.#threads.add(t);
    worker.on("message", (batch: FromThread[]) => {
      for (const m of batch) this.#handle(t, m);
    });
    worker.on("error", (err) => this.#crashed(t, `the skill's thread failed: ${err.message}`, true));
    // A batch from the thread that cannot be deserialized (a checkpoint or log value nested a few
    // thousand levels deep) is lost, and which attempt it came from cannot be told: whatever runs
    // on the thread fails now, rather than wait for a result that never comes until its timeout.
    worker.on("messageerror", (err) => {
      const message = `a message from the skill's thread could not be read (${errorMessage(err)}): a result, checkpoint or log value nested too deep?`;
      if (t.active.size === 0)
        this.#o.log.warn(
          { error_code: "OC-6010", file: t.file, error: message },
          "a skill's thread sent an unreadable message between attempts; discarded",
        );
      this.#failAll(t, message, false, "OC-6010");
      this.#discard(t);
    });
    worker.on("exit", (code) => {
      this.#failAll(
        t,
        `the skill's thread exited (code ${code}) before run settled: did the skill call process.exit()?`,
        true,
      );
      this.#discard(t);
    });
    return t;
  }

  /** The attempts on a failed thread end: alone, it fails (`code`); sharing it, each is lost (OC-6009). */
  #failAll(t: Thread, message: string, retryable: boolean, code: ErrorCode = "OC-6001"): void {
    const all = [...t.active.values()];
    for (const a of all) {
      a.finish(
        all.length === 1
          ? failure(code, message, retryable)
          : failure(
              "OC-6009",
              `lost with the skill's thread it shared with other attempts: ${message}`,
              true,
            ),
        false,
      );
    }
  }

  /** The thread failed: the attempts on it end (see #failAll); an idle one is just discarded. */
  #crashed(t: Thread, message: string, retryable: boolean): void {
    if (t.active.size > 0) {
      this.#failAll(t, message, retryable);
    } else if (!t.gone) {
      this.#o.log.warn(
        { error_code: "OC-6001", error: message, file: t.file },
        "a skill's thread failed between attempts; discarded",
      );
    }
    this.#discard(t);
  }

  #handle(t: Thread, m: FromThread): void {
    if (m.t === "crash") {
      const base = thrown(rebuild(m.error));
      const message = base.ok ? "" : base.error.message;
      const retryable = base.ok ? true : base.error.retryable;
      this.#crashed(t, `${m.what} in the skill's thread: ${message}`, retryable);
      return;
    }
    // What an attempt that has ended left behind is dropped.
    const a = t.active.get(m.run);
    if (!a) return;
    const { ctx } = a;
    switch (m.t) {
      case "progress":
        ctx.progress(m.percent as number, m.message as string);
        break;
      case "checkpoint":
        ctx.checkpoint(m.data).then(
          () => this.#tell(t, { t: "checkpointed", run: m.run, id: m.id }),
          (err: unknown) =>
            this.#tell(t, { t: "checkpointed", run: m.run, id: m.id, error: errorMessage(err) }),
        );
        break;
      case "log":
        try {
          forwardLog(ctx.log, m);
        } catch (err) {
          ctx.log.debug({ error: errorMessage(err) }, "a skill's log line could not be written");
        }
        break;
      case "result":
        a.finish({ ok: true, result: JSON.parse(m.json) as unknown }, true);
        break;
      case "bad-result":
        a.finish(failure("OC-6003", m.message, false), true);
        break;
      case "thrown":
        a.finish(thrown(rebuild(m.error)), true);
        break;
      case "load-failed":
        a.finish(failure("OC-6001", `cannot load ${basename(a.file)}: ${m.message}`, false), false);
        break;
      case "no-function":
        a.finish(
          failure("OC-6008", `${a.file} exports no run(input, ctx) function and no default function`, false),
          false,
        );
        break;
    }
  }

  #tell(t: Thread, m: ToThread): boolean {
    if (t.gone) return false;
    try {
      t.worker.postMessage(m);
      return true;
    } catch {
      return false;
    }
  }

  #release(t: Thread): void {
    t.idleSince = performance.now();
    t.worker.unref();
    t.idleTimer = setTimeout(() => {
      if (load(t) === 0) this.#discard(t);
    }, this.#o.idleMs ?? IDLE_THREAD_MS);
    t.idleTimer.unref();
    this.#wake();
  }

  /** Drops the thread from the pool and terminates it (a no-op once it is gone). */
  #discard(t: Thread): void {
    if (t.gone) return;
    t.gone = true;
    this.#threads.delete(t);
    clearTimeout(t.idleTimer);
    t.worker.terminate().catch(() => undefined);
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
