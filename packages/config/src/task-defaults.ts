import type { SubmissionDefaults } from "@openclaw/protocol";
import type { Config } from "./schema.js";

/** What a task submission leaves out is filled from config section `tasks`. */
export function taskDefaults(config: Config): SubmissionDefaults {
  const t = config.tasks;
  return {
    timeout_ms: t.default_timeout,
    max_payload_bytes: t.max_payload_bytes,
    retry: {
      max_attempts: t.max_attempts,
      backoff: t.backoff,
      initial_backoff_ms: t.initial_backoff,
      max_backoff_ms: t.max_backoff,
      jitter: t.backoff_jitter,
    },
  };
}
