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

export const NodeId = Token.describe("node id");
export type NodeId = z.infer<typeof NodeId>;

export const SkillName = Token.describe("skill name");
export type SkillName = z.infer<typeof SkillName>;
