import { OcError } from "./errors.js";
import { tokenProblem } from "./ids.js";

/** The kinds of node-plane messages a worker publishes on `<prefix>.node.<id>.<kind>`. */
export const NODE_MESSAGE_KINDS = ["register", "heartbeat", "leave", "drain"] as const;
export type NodeMessageKind = (typeof NODE_MESSAGE_KINDS)[number];

/** Node events published on `<prefix>.evt.node.<id>.<kind>`. */
export const NODE_EVENT_KINDS = ["joined", "updated", "left", "suspect", "offline", "online"] as const;
export type NodeEventKind = (typeof NODE_EVENT_KINDS)[number];

/** Core-NATS commands a worker listens to on `<prefix>.node.<id>.cmd.<kind>`. */
export const NODE_COMMAND_KINDS = ["reregister", "cancel", "ping"] as const;
export type NodeCommandKind = (typeof NODE_COMMAND_KINDS)[number];

function token(value: string, what: string): string {
  const problem = tokenProblem(value);
  if (problem) throw new OcError("OC-4001", `${what} '${value}' ${problem}`);
  return value;
}

/**
 * Every subject, stream, consumer and bucket name of one cluster, built from its prefix.
 * Call sites never concatenate subjects themselves.
 */
export function names(prefix = "oc") {
  const p = token(prefix, "subject prefix");
  const P = p.toUpperCase().replace(/-/g, "_");
  return {
    prefix: p,
    streams: {
      nodes: `${P}_NODES`,
      events: `${P}_EVENTS`,
      /** The scheduler's inbox: submissions, cancels, retries and workers' reports, in order. */
      sched: `${P}_SCHED`,
      /** Orders to nodes, one subject per node. */
      dispatch: `${P}_DISPATCH`,
      /** Copies of inbox messages a service gave up on (bad input, or failing every delivery). */
      deadLetters: `${P}_DEAD_LETTERS`,
    },
    buckets: {
      nodes: `${p}_nodes`,
      nodeHealth: `${p}_node_health`,
      leases: `${p}_leases`,
      tasks: `${p}_tasks`,
      checkpoints: `${p}_checkpoints`,
      scheduler: `${p}_scheduler`,
    },
    consumers: {
      registry: "registry",
      scheduler: "scheduler",
      /** Each worker's durable consumer on the DISPATCH stream. */
      node: (id: string) => `node-${token(id, "node id")}`,
    },
    subjects: {
      /** Everything the NODES stream holds. */
      nodeMessagesAll: NODE_MESSAGE_KINDS.map((k) => `${p}.node.*.${k}`),
      nodeMessage: (id: string, kind: NodeMessageKind) => `${p}.node.${token(id, "node id")}.${kind}`,
      nodeMessageWildcard: (kind: NodeMessageKind) => `${p}.node.*.${kind}`,
      nodeCommand: (id: string, kind: NodeCommandKind) => `${p}.node.${token(id, "node id")}.cmd.${kind}`,
      /** Everything the EVENTS stream holds. */
      eventsAll: `${p}.evt.>`,
      nodeEvent: (id: string, kind: NodeEventKind) => `${p}.evt.node.${token(id, "node id")}.${kind}`,
      nodeEventsAll: `${p}.evt.node.>`,
      clusterEvent: (kind: string) => `${p}.evt.cluster.${token(kind, "event kind")}`,
      schedAll: `${p}.sched.>`,
      schedSubmit: `${p}.sched.submit`,
      /** Several submissions in one message (`TaskSubmitBatch`). */
      schedSubmitBatch: `${p}.sched.submit-batch`,
      schedCancel: `${p}.sched.cancel`,
      schedRetry: `${p}.sched.retry`,
      schedReport: (taskId: string) => `${p}.sched.report.${token(taskId, "task id")}`,
      dispatchAll: `${p}.dispatch.*`,
      dispatch: (nodeId: string) => `${p}.dispatch.${token(nodeId, "node id")}`,
      /** Everything the DEAD_LETTERS stream holds. */
      deadLettersAll: `${p}.dead.>`,
      /** A dead letter from `source` (the consumer that gave up on it, e.g. `scheduler`). */
      deadLetter: (source: string) => `${p}.dead.${token(source, "dead letter source")}`,
      taskEvent: (taskId: string, kind: string) =>
        `${p}.evt.task.${token(taskId, "task id")}.${token(kind, "event kind")}`,
      taskEventsOf: (taskId: string) => `${p}.evt.task.${token(taskId, "task id")}.>`,
      taskEventsAll: `${p}.evt.task.>`,
      /** Core request/reply to the scheduler leader: where would this task go now (a dry run). */
      route: `${p}.api.route`,
      /** Core request/reply to a role's leader: step down so a new election happens (only the leader answers). */
      elect: (role: string) => `${p}.ctl.elect.${token(role, "role")}`,
    },
    /** Splits `<prefix>.node.<id>.<kind>` into its parts, or undefined if it is not one. */
    parseNodeSubject(subject: string): { nodeId: string; kind: string } | undefined {
      const parts = subject.split(".");
      if (parts.length !== 4 || parts[0] !== p || parts[1] !== "node") return undefined;
      return { nodeId: parts[2] as string, kind: parts[3] as string };
    },
    /** Splits `<prefix>.evt.<scope>.<...>` into scope, id and kind. */
    parseEventSubject(subject: string): { scope: string; id?: string; kind: string } | undefined {
      const parts = subject.split(".");
      if (parts[0] !== p || parts[1] !== "evt") return undefined;
      if (parts[2] === "node" && parts.length === 5) {
        return { scope: "node", id: parts[3] as string, kind: parts[4] as string };
      }
      if (parts[2] === "task" && parts.length === 5) {
        return { scope: "task", id: parts[3] as string, kind: parts[4] as string };
      }
      if (parts[2] === "cluster" && parts.length === 4) return { scope: "cluster", kind: parts[3] as string };
      return undefined;
    },
  };
}

export type Names = ReturnType<typeof names>;
