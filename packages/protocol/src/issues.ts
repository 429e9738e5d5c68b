import type { z } from "zod";

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `worker.heartbeat_interval` or `body.node.port`. */
  path: string;
  message: string;
}

/** Flattens a zod error into one entry per bad field, with a dotted path. */
export function fieldIssues(error: z.ZodError, root = ""): FieldIssue[] {
  return error.issues.map((issue) => {
    const parts = issue.path.map(String);
    const path = [root, ...parts].filter((p) => p !== "").join(".") || "(root)";
    return { path, message: issue.message };
  });
}

export function formatIssues(issues: FieldIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join("; ");
}
