/**
 * The code a module skill's pooled thread runs (a CommonJS script, evaluated by `new Worker(…,
 * { eval: true })`, so it needs no file of its own next to the compiled or the source runner).
 *
 * A thread serves one module file: it imports it once (TypeScript through tsx's ESM loader,
 * registered inside the thread on first use), then runs `run(input, ctx)` for one attempt at a
 * time as the parent asks, with a ctx whose progress, checkpoints and log go to the parent by
 * message. Whatever escapes `run` (an uncaught exception, an unhandled rejection) is posted as a
 * crash; the parent then fails the attempt running on the thread, if any, and ends the thread.
 */

/** What the parent hands the thread (`workerData`). */
export interface ThreadData {
  /** The skill module's file URL. */
  url: string;
  /** The URL of `tsx/esm/api` when the skill is TypeScript. */
  tsxApi: string | undefined;
}

/** The context data of one attempt, copied into the thread. */
export interface RunData {
  taskId: string;
  attempt: number;
  nodeId: string;
  lastCheckpoint: unknown;
  config: { allowedCommands: readonly string[] };
}

/** A thrown value, as far as the parent needs it. */
export interface ThrownShape {
  isError: boolean;
  name: string;
  message: unknown;
  retryable: unknown;
  nonRetryable: unknown;
  text: string;
}

/**
 * Thread to parent (in batches: each message the parent gets is an array of these). `run` is the
 * attempt's id, so what an earlier attempt left running cannot speak for a later one.
 */
export type FromThread =
  | { t: "progress"; run: number; percent: unknown; message: unknown }
  | { t: "checkpoint"; run: number; id: number; data: unknown }
  | { t: "log"; run: number; level: string; bindings: Record<string, unknown> | undefined; args: unknown[] }
  | { t: "result"; run: number; json: string }
  | { t: "bad-result"; run: number; message: string }
  | { t: "thrown"; run: number; error: ThrownShape }
  | { t: "load-failed"; run: number; message: string }
  | { t: "no-function"; run: number }
  | { t: "crash"; what: string; error: ThrownShape };

/** Parent to thread. */
export type ToThread =
  | { t: "run"; run: number; input: unknown; ctx: RunData }
  | { t: "abort"; run: number; name: string; message: string }
  | { t: "checkpointed"; run: number; id: number; error?: string };

export const THREAD_SOURCE = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
// Messages go out in batches, one per turn of the event loop, in the order they were made: a
// skill that checkpoints thousands of times in a loop costs one message, not thousands.
let outbox = [];
const post = (m) => {
  if (outbox.push(m) === 1) queueMicrotask(flush);
};
const describe = (err) => {
  const e = typeof err === "object" && err !== null ? err : {};
  let text;
  try { text = String(err); } catch { text = "a value that cannot be shown"; }
  return {
    isError: err instanceof Error,
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : undefined,
    retryable: e.retryable === false ? false : undefined,
    nonRetryable: e.nonRetryable === true ? true : undefined,
    text,
  };
};
let crashed = false;
const crash = (what) => (err) => {
  if (crashed) return;
  crashed = true;
  post({ t: "crash", what, error: describe(err) });
};
process.on("uncaughtException", crash("an uncaught exception"));
process.on("unhandledRejection", crash("an unhandled rejection"));

const plain = (v) => {
  try {
    return JSON.parse(JSON.stringify(v) ?? "null");
  } catch {
    return String(v);
  }
};
// A message that cannot be cloned (a function somewhere) goes as what JSON keeps of it.
const cloneable = (m) => {
  if (m.t === "checkpoint") return { ...m, data: plain(m.data) };
  if (m.t === "log") return { ...m, args: m.args.map(plain) };
  return { ...m };
};
// The result goes as JSON text: what JSON keeps of it, and a string whatever its nesting (a
// value nested a few thousand levels deep is cloned here but cannot be read by the parent).
const resultMessage = (result) => {
  let json;
  try {
    json = JSON.stringify(result ?? null);
  } catch (err) {
    return { t: "bad-result", message: "the result cannot be turned into JSON: " + describe(err).message };
  }
  if (json === undefined) return { t: "bad-result", message: "the result cannot be turned into JSON" };
  return { t: "result", json };
};
function flush() {
  const batch = outbox;
  outbox = [];
  try {
    parentPort.postMessage(batch);
  } catch {
    for (const m of batch) {
      try {
        parentPort.postMessage([m]);
      } catch {
        parentPort.postMessage([cloneable(m)]);
      }
    }
  }
}
const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

const pick = (mod) => {
  const dflt = mod.default;
  const candidates = [mod.run, dflt, typeof dflt === "object" && dflt !== null ? dflt.run : undefined];
  return candidates.find((c) => typeof c === "function");
};
// The module, imported once for every attempt this thread runs.
let loading;
const load = () => {
  loading ??= (async () => {
    if (workerData.tsxApi) {
      const api = await import(workerData.tsxApi);
      return pick(await api.register({ namespace: "openclaw-skill" }).import(workerData.url, workerData.url));
    }
    return pick(await import(workerData.url));
  })();
  return loading;
};

// The attempts this thread runs (one at a time; an id is dropped when its run settles).
const runs = new Map();
parentPort.on("message", (m) => {
  if (m.t === "run") {
    start(m);
  } else if (m.t === "abort") {
    runs.get(m.run)?.controller.abort(new DOMException(m.message, m.name));
  } else if (m.t === "checkpointed") {
    const pending = runs.get(m.run)?.pending;
    const p = pending?.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error === undefined) p.resolve();
    else p.reject(new Error(m.error));
  }
});

async function start({ run: id, input, ctx: data }) {
  const controller = new AbortController();
  const pending = new Map();
  runs.set(id, { controller, pending });
  const send = (m) => post({ ...m, run: id });
  let nextId = 0;
  const logger = (bindings) => {
    const log = { child: (more) => logger({ ...bindings, ...more }) };
    for (const level of LEVELS) {
      log[level] = (...args) =>
        send({ t: "log", level, bindings, args: args.map((a) => (a instanceof Error ? { error: a.message, stack: a.stack } : a)) });
    }
    return log;
  };
  const ctx = {
    taskId: data.taskId,
    attempt: data.attempt,
    nodeId: data.nodeId,
    payload: input,
    lastCheckpoint: data.lastCheckpoint,
    config: data.config,
    signal: controller.signal,
    log: logger(undefined),
    progress(percent, message = "") {
      send({ t: "progress", percent: typeof percent === "number" ? percent : Number.NaN, message: String(message) });
    },
    checkpoint(cp) {
      const cid = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(cid, { resolve, reject });
        send({ t: "checkpoint", id: cid, data: cp });
      });
    },
  };
  try {
    let fn;
    try {
      fn = await load();
    } catch (err) {
      const d = describe(err);
      send({ t: "load-failed", message: d.message ?? d.text });
      return;
    }
    if (!fn) {
      send({ t: "no-function" });
      return;
    }
    let result;
    try {
      result = await fn(input, ctx);
    } catch (err) {
      send({ t: "thrown", error: describe(err) });
      return;
    }
    send(resultMessage(result));
  } finally {
    runs.delete(id);
  }
}
`;
