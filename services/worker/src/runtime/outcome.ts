import { depthProblem, type ErrorCode, type TaskError } from "@openclaw/protocol";

/** How one run of a skill ended. Runners return it and never throw. */
export type Outcome = { ok: true; result: unknown } | { ok: false; error: TaskError };

/** TaskError's limit on `message`. */
const MAX_MESSAGE = 4000;

export function failure(code: ErrorCode, message: string, retryable: boolean): Outcome {
  const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
  return { ok: false, error: { code, message: text, retryable } };
}

/**
 * OC-6001 for a value a skill threw: its message, retried unless it says otherwise
 * (`retryable: false` or `nonRetryable: true` on the error, as Temporal's and BullMQ's do).
 */
export function thrown(err: unknown): Outcome {
  const e = (typeof err === "object" && err !== null ? err : {}) as {
    message?: unknown;
    name?: unknown;
    retryable?: unknown;
    nonRetryable?: unknown;
  };
  let message = typeof e.message === "string" ? e.message : "";
  if (message === "") message = err instanceof Error ? `${err.name} (no message)` : String(err);
  return failure("OC-6001", message, !(e.retryable === false || e.nonRetryable === true));
}

/**
 * A result as it will travel: JSON, within `maxBytes`, nesting at most MAX_JSON_DEPTH levels.
 * `undefined` becomes `null`; a value JSON cannot hold (a BigInt, a cycle) is OC-6003, one too
 * large or nested too deep OC-6007.
 */
export function checkResult(result: unknown, maxBytes: number): Outcome {
  let json: string;
  try {
    json = JSON.stringify(result ?? null);
  } catch (err) {
    // Out of stack: nested thousands of levels deep. Otherwise a cycle or a BigInt.
    const tooDeep = err instanceof RangeError ? depthProblem(result) : undefined;
    return tooDeep
      ? failure("OC-6007", `the result ${tooDeep}`, false)
      : failure("OC-6003", `the result cannot be turned into JSON: ${(err as Error).message}`, false);
  }
  const deep = depthProblem(result);
  if (deep) return failure("OC-6007", `the result ${deep}`, false);
  if (json === undefined) return failure("OC-6003", "the result cannot be turned into JSON", false);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) {
    return failure(
      "OC-6007",
      `the result is ${bytes} bytes of JSON; tasks.max_result_bytes allows ${maxBytes}`,
      false,
    );
  }
  return { ok: true, result: JSON.parse(json) as unknown };
}
