import { z } from "zod";
import { EnvelopeFields } from "./envelope.js";
import { Token } from "./ids.js";

/** The roles elected by leader lease; each is a key in the `leases` bucket. */
export const LEADER_ROLES = ["scheduler", "health-monitor"] as const;
export type LeaderRole = (typeof LEADER_ROLES)[number];
export const LeaderRole = z.enum(LEADER_ROLES, {
  error: (issue) =>
    `'${String(issue.input).slice(0, 80)}' is not a leader role; one of: ${LEADER_ROLES.join(", ")}`,
});

/**
 * Core request on `<prefix>.ctl.elect.<role>` (`oclaw elect`, `POST /api/v1/cluster/elect`):
 * the role's leader steps down so a new election happens. Only the leader answers.
 */
export const ElectRequest = z.strictObject({
  ...EnvelopeFields,
  role: Token,
  reason: z.string().max(200).optional(),
});
export type ElectRequest = z.infer<typeof ElectRequest>;

/** The leader's answer when it steps down, sent before it does. */
export const ElectSteppedDown = z.strictObject({
  ...EnvelopeFields,
  role: Token,
  /** The instance that led and steps down now. */
  holder: z.string().min(1).max(128),
  /** The term it led in; the next leader's term is higher. */
  term: z.number().int().min(1),
  stepped_down: z.literal(true),
  /** How long it stays out of the election, so a standby wins it (it leads again if none does). */
  hold_off_ms: z.number().int().min(0),
});
export type ElectSteppedDown = z.infer<typeof ElectSteppedDown>;

/**
 * The leader's answer when it refuses: it was elected less than one election timeout ago, so
 * repeated elects cannot keep a role without a leader most of the time.
 */
export const ElectRefused = z.strictObject({
  ...EnvelopeFields,
  role: Token,
  holder: z.string().min(1).max(128),
  term: z.number().int().min(1),
  stepped_down: z.literal(false),
  /** How long until it would step down on request. */
  retry_after_ms: z.number().int().min(0),
  message: z.string().max(500),
});
export type ElectRefused = z.infer<typeof ElectRefused>;

/** The leader's answer to an elect request. */
export const ElectReply = z.discriminatedUnion("stepped_down", [ElectSteppedDown, ElectRefused]);
export type ElectReply = z.infer<typeof ElectReply>;
