import { counter, gauge, histogram } from "@openclaw/metrics";

/** The scheduler's own view, on its metrics port (`metrics.port`); only the leader's move. */
export const schedulerMetrics = {
  leader: gauge("openclaw_scheduler_leader", "1 while this instance leads the scheduler role"),
  elections: counter("openclaw_scheduler_elections_total", "Times this instance took the scheduler lease"),
  queueDepth: gauge(
    "openclaw_scheduler_queue_depth",
    "Tasks waiting for a node in the leader's queue, by priority",
    ["priority"],
  ),
  placements: counter("openclaw_scheduler_placements_total", "Attempts placed and dispatched by this leader"),
  unplaced: counter(
    "openclaw_scheduler_unplaced_total",
    "Decisions that found no node for a task (its kind then waits for the next round), by whether the nodes were only full",
    ["why"],
  ),
  round: histogram(
    "openclaw_scheduler_round_seconds",
    "A placement round: every decision it made and their record writes and dispatches",
  ),
  inbox: counter("openclaw_scheduler_inbox_messages_total", "Inbox messages handled, by kind", ["kind"]),
  deadLetters: counter(
    "openclaw_scheduler_dead_letters_total",
    "Inbox messages given up and kept as dead letters, by why: invalid, unencodable, failing (on every delivery)",
    ["why"],
  ),
};
