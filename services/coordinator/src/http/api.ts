import type { StoredDeadLetter } from "@openclaw/bus";
import { type Config, ConfigSchema, taskDefaults } from "@openclaw/config";
import type { Logger } from "@openclaw/log";
import type { Sender, SubmissionDefaults } from "@openclaw/protocol";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { Activity } from "../activity.js";
import type { NodeStore } from "../db/node-store.js";
import type { Leadership } from "../leadership.js";
import { CoordinatorMetrics } from "../metrics.js";
import type { TaskBus } from "../task-bus.js";
import { type AuthSettings, registerAuth } from "./auth.js";
import { registerDashboard } from "./dashboard.js";
import { handleClientError, handleError, handleFrameworkError, handleNotFound } from "./errors.js";
import { registerOpenApi } from "./openapi.js";
import { ReadCache } from "./read-cache.js";
import { DebugRequestLog } from "./request-log.js";
import { registerClusterRoutes } from "./routes/cluster.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerServiceRoutes } from "./routes/service.js";
import { registerTaskRoutes } from "./routes/tasks.js";
import { MAX_STREAMS_PER_CLIENT, StreamLimit } from "./sse.js";

export type NatsState = "connected" | "disconnected";

/** The query of a route that takes no parameter. */
const NO_QUERY = z.strictObject({});

/** What the task API takes from the configuration. */
export interface TaskSettings {
  /** Filled into what a submission leaves out (`tasks.*`). */
  defaults: SubmissionDefaults;
  /** Submissions are refused with 429 while this many tasks are pending (`scheduler.max_pending`). */
  maxPending: number;
}

/** The task settings of a configuration. */
export function taskSettings(config: Config): TaskSettings {
  return { defaults: taskDefaults(config), maxPending: config.scheduler.max_pending };
}

export interface ApiDeps {
  store: NodeStore;
  log: Logger;
  /** This coordinator's instance id, reported by `/health`. */
  instance: string;
  /** Reported by `/health`. @default "0.0.0" */
  version?: string;
  /** The NATS connection state, for `/health`. @default always "connected" */
  nats?: () => NatsState;
  /** The clock. @default () => new Date() */
  now?: () => Date;
  /**
   * The scheduler's inbox and live task events. Without it, submit, cancel and retry answer
   * 503 and event streams and long polls see only what the read model stores.
   */
  bus?: TaskBus;
  /** Sender of the bus messages. @default { service: "coordinator", instance } */
  sender?: Sender;
  /** @default taskSettings(the default configuration) */
  tasks?: TaskSettings;
  /** The leases and the elect request. Without it, the leadership routes answer 503. */
  leadership?: Leadership;
  /** Reads the dead letters. Without it, `GET /api/v1/cluster/dead-letters` answers 503. */
  deadLetters?: (limit: number) => Promise<StoredDeadLetter[]>;
  /** API keys. @default none: the API is open */
  auth?: AuthSettings;
  /** Metrics served at `/metrics`. @default metrics of `store` */
  metrics?: CoordinatorMetrics;
  /** Recent activity for the dashboard (series, live feed). @default an empty one */
  activity?: Activity;
  /** Event streams one client address may hold open at once. @default 20 */
  maxStreamsPerClient?: number;
}

export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** Everything a route needs, with the defaults filled in. */
export interface RouteDeps {
  store: NodeStore;
  instance: string;
  version: string;
  nats: () => NatsState;
  now: () => Date;
  startedAt: Date;
  bus: TaskBus | undefined;
  sender: Sender;
  tasks: TaskSettings;
  leadership: Leadership | undefined;
  deadLetters: ((limit: number) => Promise<StoredDeadLetter[]>) | undefined;
  /** Aborted when the API closes, so event streams and long polls let go. */
  closing: AbortSignal;
  /** Answers of hot read endpoints, kept while the read model has not changed. */
  cache: ReadCache;
  metrics: CoordinatorMetrics;
  activity: Activity;
  /** Open event streams per client address. */
  streams: StreamLimit;
}

/**
 * The coordinator's HTTP API, ready for `inject()` or `listen()`. Request and query schemas
 * are zod (so `@fastify/swagger` with `jsonSchemaTransform` can document them); every error
 * answers `{ statusCode, error, code, message, field? }`.
 */
export function buildApi(deps: ApiDeps): Api {
  const loggerInstance: FastifyBaseLogger = deps.log;
  const app = Fastify({
    loggerInstance,
    logController: new DebugRequestLog(),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    // A path segment over maxParamLength, a URL that does not decode, a request node refuses:
    // answered in the API's shape, not fastify's (which echoes the URL).
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  const now = deps.now ?? (() => new Date());
  const closing = new AbortController();
  // Open event streams would keep the server from closing.
  app.addHook("preClose", async () => closing.abort());
  const routeDeps: RouteDeps = {
    store: deps.store,
    instance: deps.instance,
    version: deps.version ?? "0.0.0",
    nats: deps.nats ?? (() => "connected"),
    now,
    startedAt: now(),
    bus: deps.bus,
    sender: deps.sender ?? { service: "coordinator", instance: deps.instance },
    tasks: deps.tasks ?? taskSettings(ConfigSchema.parse({})),
    leadership: deps.leadership,
    deadLetters: deps.deadLetters,
    closing: closing.signal,
    cache: new ReadCache(
      () => deps.store.version(),
      () => now().getTime(),
    ),
    metrics: deps.metrics ?? new CoordinatorMetrics(deps.store),
    activity: deps.activity ?? new Activity(),
    streams: new StreamLimit(deps.maxStreamsPerClient ?? MAX_STREAMS_PER_CLIENT),
  };
  // Request latency by route pattern (not by URL: ids would make a series per task).
  app.addHook("onResponse", async (req, reply) => {
    routeDeps.metrics.observeHttp(
      req.method,
      req.routeOptions.url ?? "unmatched",
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  if (deps.auth) registerAuth(app, deps.auth, deps.log);
  registerOpenApi(app, routeDeps.version);
  registerDashboard(app);
  // In a plugin loaded after the OpenAPI one, so that it documents every route.
  app.register(async (scope) => {
    // Unknown query parameters are refused on every route, as the task routes' own schemas do:
    // a misspelt filter (`?statsu=offline`) would otherwise answer as if there were none.
    scope.addHook("onRoute", (route) => {
      route.schema ??= {};
      route.schema.querystring ??= NO_QUERY;
    });
    const api = scope.withTypeProvider<ZodTypeProvider>();
    registerServiceRoutes(api, routeDeps);
    registerNodeRoutes(api, routeDeps);
    registerClusterRoutes(api, routeDeps);
    registerTaskRoutes(api, routeDeps);
  });
  return app;
}
