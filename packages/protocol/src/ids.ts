import { z } from "zod";

/**
 * Node ids, skill names and other ids become NATS subject tokens, so they may hold only
 * letters, digits, `_` and `-` (no `.`, `*`, `>` or whitespace, which would change the subject).
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const TOKEN_RULE = "1-64 characters from A-Z a-z 0-9 _ - (no '.', '*', '>' or spaces)";

/** Explains why a string is not a valid token, or returns undefined when it is. */
export function tokenProblem(value: string): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > 64) return `is ${value.length} characters long; at most 64 are allowed`;
  const bad = [...value].find((c) => !/[A-Za-z0-9_-]/.test(c));
  if (bad !== undefined) {
    const shown = /\s/.test(bad) ? "whitespace" : `'${bad}'`;
    return `contains ${shown}; allowed: ${TOKEN_RULE}`;
  }
  return undefined;
}

export function isToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** A string that is safe to use as one NATS subject token. */
export const Token = z.string().superRefine((value, ctx) => {
  const problem = tokenProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * Node ids that would shadow a literal route segment under `/api/v1/nodes/`
 * (`GET /api/v1/nodes/online`, `GET /api/v1/nodes/skills/:skill`): a node with such an id could
 * never be read, drained or followed by id. Keep in step with the coordinator's node routes.
 */
export const RESERVED_NODE_IDS: readonly string[] = ["online", "skills"];

/** Explains why a string is not a valid node id (not a token, or a reserved word), or undefined. */
export function nodeIdProblem(value: string): string | undefined {
  const problem = tokenProblem(value);
  if (problem) return problem;
  if (RESERVED_NODE_IDS.includes(value.toLowerCase())) {
    return `is reserved: /api/v1/nodes/${value.toLowerCase()} is an API route, so a node with this id could not be read by id; reserved node ids: ${RESERVED_NODE_IDS.join(", ")}`;
  }
  return undefined;
}

/** A node id: a subject token that is not one of RESERVED_NODE_IDS. */
export const NodeId = z
  .string()
  .superRefine((value, ctx) => {
    const problem = nodeIdProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .describe("node id");
export type NodeId = z.infer<typeof NodeId>;

export const SkillName = Token.describe("skill name");
export type SkillName = z.infer<typeof SkillName>;
