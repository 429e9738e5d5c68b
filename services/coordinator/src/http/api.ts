import type { Logger } from "@openclaw/log";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { NodeStore } from "../db/node-store.js";
import { handleError, handleNotFound } from "./errors.js";
import { DebugRequestLog } from "./request-log.js";
import { registerClusterRoutes } from "./routes/cluster.js";
import { registerNodeRoutes } from "./routes/nodes.js";
import { registerServiceRoutes } from "./routes/service.js";

export type NatsState = "connected" | "disconnected";

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
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  const now = deps.now ?? (() => new Date());
  const routeDeps: RouteDeps = {
    store: deps.store,
    instance: deps.instance,
    version: deps.version ?? "0.0.0",
    nats: deps.nats ?? (() => "connected"),
    now,
    startedAt: now(),
  };
  registerServiceRoutes(app, routeDeps);
  registerNodeRoutes(app, routeDeps);
  registerClusterRoutes(app, routeDeps);
  return app;
}
