/**
 * Structured JSON logs (pino) with the fields every line of the cluster carries:
 * `timestamp`, `level`, `service`, `instance`, `message`, and where they apply `node_id`,
 * `task_id` and `error_code`. (Messages have an optional `trace_id`; no log line carries it yet.)
 *
 * ```ts
 * const log = createLogger({ service: "registry", instance: "reg-1" });
 * log.info({ node_id: "w1" }, "node joined");
 * ```
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  service: string;
  instance: string;
  cluster?: string;
  /** @default "info" */
  level?: LogLevel;
  /** `pretty` needs a TTY-friendly reader; files and pipes should keep `json`. @default "json" */
  format?: "json" | "pretty";
  /** Where lines go; stdout when absent. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions): Logger {
  const base: Record<string, string> = { service: options.service, instance: options.instance };
  if (options.cluster) base.cluster = options.cluster;
  const config: LoggerOptions = {
    level: options.level ?? "info",
    base,
    messageKey: "message",
    errorKey: "error",
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.destination) return pino(config, options.destination);
  if (options.format === "pretty") {
    return pino({
      ...config,
      transport: {
        target: "pino-pretty",
        options: { messageKey: "message", translateTime: "SYS:HH:MM:ss.l" },
      },
    });
  }
  return pino(config, stdoutDestination());
}

/**
 * Stdout, asynchronously, that goes quiet once its reader is gone (EPIPE: the supervisor that
 * read our logs died) instead of raising an error that nothing handles, which would turn every
 * later log line into another uncaught error.
 */
const detachers = new Set<() => void>();

/**
 * Stops writing logs to stdout from now on: its reader is gone (the supervisor that read it died).
 * Must happen before exiting: pino flushes stdout synchronously at exit, and sonic-boom retries a
 * write that fails with anything but EAGAIN forever, so a dead pipe would block the exit.
 */
export function detachOutput(): void {
  for (const detach of detachers) detach();
}

function stdoutDestination(): DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  const sonic = pino.destination({ dest: 1, sync: false });
  let broken = false;
  const detach = () => {
    if (broken) return;
    broken = true;
    // A destroyed stream is skipped by pino's exit flush, and its buffer is dropped (fd 1 stays open).
    sonic.destroy();
  };
  detachers.add(detach);
  sonic.on("error", detach);
  // Bytes handed to sonic-boom that have not reached fd 1 yet (its "write" event counts them out).
  let unwritten = 0;
  sonic.on("write", (n: number) => {
    unwritten -= n;
  });
  return {
    write(line: string) {
      if (broken) return;
      unwritten += Buffer.byteLength(line);
      sonic.write(line);
    },
    // Calls back once every line so far is written. Not sonic.flush(cb): with no minLength it calls
    // back at once, even while a write is still under way in libuv's thread pool; a process.exit
    // then has pino's exit handler write the lines queued behind it synchronously, ahead of it (the
    // log ends "left the cluster", "stopped", "worker started"), or that write is lost.
    flush(cb?: (err?: Error) => void) {
      if (broken || unwritten <= 0) {
        cb?.();
        return;
      }
      const done = () => {
        sonic.off("drain", done);
        sonic.off("close", done);
        cb?.();
      };
      sonic.on("drain", done);
      // Detached (its reader gone) meanwhile: nothing more will be written.
      sonic.on("close", done);
    },
  };
}

/** A logger that drops everything, for code paths that need one but have nothing to say. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
