import { type FastifyReply, type FastifyRequest, LogController } from "fastify";

/** Request lines at debug, not info: a polled API would otherwise drown the service log. */
export class DebugRequestLog extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    req.log.debug(
      {
        method: req.method,
        url: req.url,
        status_code: reply.statusCode,
        response_time_ms: Math.round(reply.elapsedTime * 10) / 10,
        ...(error ? { error: error.message } : {}),
      },
      "request completed",
    );
  }
}
