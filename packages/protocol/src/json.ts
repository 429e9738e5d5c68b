import { z } from "zod";

/**
 * How deep JSON may nest wherever it enters the cluster: a task's payload and metadata (HTTP, SDK,
 * the scheduler's inbox) and a skill's result (the worker, the scheduler's inbox). `{}` and `[]`
 * are one level, `{"a":[1]}` two. Far deeper values break the cluster's own plumbing
 * (`JSON.stringify` runs out of stack near 10,000 levels; a worker thread's message cannot be
 * read back near 2,000), so they are refused where they come in. See docs/tasks.md.
 */
export const MAX_JSON_DEPTH = 64;

/** Largest `metadata` of a task, in bytes of JSON. */
export const MAX_METADATA_BYTES = 64 * 1024;

/**
 * How deep `value` nests: 0 for a scalar, 1 for an empty object or array, and so on; it stops
 * looking once past `limit` (the answer is then `limit + 1`). Iterative, so no depth overflows
 * the stack.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, depth] = next;
    if (typeof v !== "object" || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return limit + 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return deepest;
}

/** Why `value` nests too deep (a sentence without its subject), or undefined when it does not. */
export function depthProblem(value: unknown, limit = MAX_JSON_DEPTH): string | undefined {
  return jsonDepth(value, limit) > limit
    ? `nests deeper than ${limit} levels of objects and arrays; the limit is ${limit}`
    : undefined;
}

/** Any JSON value nesting at most MAX_JSON_DEPTH levels. */
export const BoundedJson = z.unknown().superRefine((value, ctx) => {
  const problem = depthProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A task's metadata: an object nesting at most MAX_JSON_DEPTH levels, at most MAX_METADATA_BYTES of JSON. */
export const TaskMetadata = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const problem = depthProblem(value);
  if (problem) {
    ctx.addIssue({ code: "custom", message: problem });
    return;
  }
  let bytes: number;
  try {
    bytes = Buffer.byteLength(JSON.stringify(value));
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `cannot be turned into JSON: ${(err as Error).message}` });
    return;
  }
  if (bytes > MAX_METADATA_BYTES) {
    ctx.addIssue({
      code: "custom",
      message: `is ${bytes} bytes of JSON; the limit is ${MAX_METADATA_BYTES}`,
    });
  }
});
