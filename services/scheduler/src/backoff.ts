import type { RetryPolicy } from "@openclaw/protocol";

/**
 * Delay before the attempt after `attempt` failed: `initial × 2^(attempt-1)` (exponential) or
 * `initial` (fixed), capped at `max`, spread by ± `jitter`.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const base =
    policy.backoff === "fixed"
      ? policy.initial_backoff_ms
      : policy.initial_backoff_ms * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(base, policy.max_backoff_ms);
  const spread = capped * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(policy.max_backoff_ms, capped + spread)));
}
