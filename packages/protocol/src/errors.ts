/**
 * The one table of error codes. Every code is documented in docs/errors.md (a test checks it)
 * and carries the HTTP status the API answers with when the error reaches a caller.
 */
export const ERROR_CODES = {
  "OC-1001": { name: "CONFIG_INVALID", status: 500, message: "Configuration is invalid" },
  "OC-1002": { name: "CONFIG_UNREADABLE", status: 500, message: "A configuration file cannot be read" },
  "OC-1003": { name: "NATS_SERVER_MISSING", status: 500, message: "nats-server is not installed" },
  "OC-2001": { name: "NATS_UNREACHABLE", status: 503, message: "Cannot connect to NATS" },
  "OC-2002": {
    name: "MESSAGE_INVALID",
    status: 400,
    message: "A bus message failed validation and was dropped",
  },
  "OC-2003": {
    name: "JETSTREAM_UNAVAILABLE",
    status: 503,
    message: "NATS answers but JetStream is not enabled",
  },
  "OC-3001": { name: "SKILL_INVALID", status: 500, message: "A skill folder is malformed and was skipped" },
  "OC-3002": { name: "SKILLS_DIR_MISSING", status: 500, message: "The skills directory does not exist" },
  "OC-4000": { name: "REQUEST_INVALID", status: 400, message: "The request is invalid" },
  "OC-4001": { name: "ID_INVALID", status: 400, message: "An id is not a valid subject token" },
  "OC-4002": { name: "PAYLOAD_TOO_LARGE", status: 400, message: "The task payload is larger than allowed" },
  "OC-4003": { name: "API_KEY_READ_ONLY", status: 403, message: "The API key may only read" },
  "OC-4004": { name: "NODE_NOT_FOUND", status: 404, message: "No such node" },
  "OC-4005": { name: "ROUTE_NOT_FOUND", status: 404, message: "No such route" },
  "OC-4006": { name: "TASK_NOT_FOUND", status: 404, message: "No such task" },
  "OC-4009": {
    name: "TASK_STATE_CONFLICT",
    status: 409,
    message: "The task is not in a state that allows this",
  },
  "OC-4010": { name: "API_KEY_REQUIRED", status: 401, message: "The API needs a key" },
  "OC-4011": {
    name: "API_KEY_UNKNOWN",
    status: 401,
    message: "The API key is not one of the configured keys",
  },
  "OC-4029": { name: "QUEUE_FULL", status: 429, message: "The pending queue is full" },
  "OC-4030": {
    name: "TOO_MANY_STREAMS",
    status: 429,
    message: "The client holds as many open event streams as it may",
  },
  "OC-4031": {
    name: "ELECTION_TOO_SOON",
    status: 429,
    message: "The leader was elected less than one election timeout ago",
  },
  "OC-5000": { name: "INTERNAL", status: 500, message: "Internal error" },
  "OC-5001": { name: "STORE_FAILED", status: 500, message: "The read model store failed" },
  "OC-5003": { name: "UNAVAILABLE", status: 503, message: "A dependency is unavailable" },
  "OC-5004": { name: "NO_LEADER", status: 503, message: "No leader answered" },
  "OC-5005": {
    name: "READ_MODEL_OTHER_CLUSTER",
    status: 500,
    message: "The read model was built from another cluster and starts over",
  },
  "OC-6001": { name: "SKILL_THREW", status: 500, message: "The skill threw an error" },
  "OC-6002": {
    name: "SKILL_EXIT_NONZERO",
    status: 500,
    message: "The skill's command exited with a non-zero status",
  },
  "OC-6003": { name: "SKILL_BAD_OUTPUT", status: 500, message: "The skill's output is not valid JSON" },
  "OC-6004": { name: "TASK_TIMEOUT", status: 500, message: "The attempt ran past the task's timeout" },
  "OC-6005": { name: "TASK_CANCELLED", status: 500, message: "The attempt was cancelled" },
  "OC-6006": { name: "SKILL_NOT_ON_NODE", status: 500, message: "The node does not have the skill" },
  "OC-6007": { name: "RESULT_TOO_LARGE", status: 500, message: "The skill's result is larger than allowed" },
  "OC-6008": { name: "SKILL_NOT_RUNNABLE", status: 500, message: "The skill declares no way to run it" },
  "OC-6009": { name: "ATTEMPT_LOST", status: 500, message: "The node did not start or finish the attempt" },
  "OC-6010": {
    name: "SKILL_MESSAGE_UNREADABLE",
    status: 500,
    message: "A message from the skill's thread could not be read",
  },
} as const satisfies Record<string, { name: string; status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code; `field` names the input that caused it, when there is one. */
export class OcError extends Error {
  override readonly name = "OcError";
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; field?: string }) {
    super(
      message ?? ERROR_CODES[code].message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.field = options?.field;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isOcError(err: unknown): err is OcError {
  return err instanceof OcError;
}
