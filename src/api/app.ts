import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type pg from 'pg';
import { registerAuthentication } from '../auth/authenticate.js';
import { authRoutes } from '../auth/routes.js';
import type { AuthService } from '../auth/service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { QueueAdmin } from '../queue/admin.js';
import { ArchiveReader } from '../queue/archive-reader.js';
import type { QueueEngine } from '../queue/engine.js';
import type { RedisClient } from '../redis/connect.js';
import type { HandlerRegistry } from '../worker/handlers/registry.js';
import { adminRoutes } from './admin-routes.js';
import { answerClientError, answerFrameworkError, sendError, toAppError } from './errors.js';
import { healthLogLevel, registerHealthRoutes } from './health.js';
import { registerMetricsRoutes } from './metrics-routes.js';
import type { LifecycleLog } from '../observability/lifecycle.js';
import type { Metrics } from '../observability/metrics.js';
import { observeAccepted } from '../observability/observers.js';
import { registerJsonBodyParser } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { queueRoutes } from './queue-routes.js';
import { eventRoutes } from './event-routes.js';
import type { LiveEvents } from '../queue/live-events.js';
import { schemaCompiler } from './validation.js';
import { registerWebConsole } from './web-console.js';

export interface ApiDependencies {
  config: Config;
  logger: Logger;
  redis: RedisClient;
  pool: pg.Pool;
  auth: AuthService;
  engine: QueueEngine;
  registry: HandlerRegistry;
  /** request events for long polls and event streams (one shared subscription per process) */
  live: LiveEvents;
  /** this process's metrics, served at GET /metrics (absent when METRICS_ENABLED=false) */
  metrics?: Metrics;
  /** lifecycle lines of accepted requests */
  lifecycle?: LifecycleLog;
}

/** One line per request, written when it completes, with what an operator needs to read it. */
class OneLinePerRequest extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url }, 'incoming request');
  }

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ...(request.claims ? { userId: request.claims.sub } : {}),
    };
    if (error || reply.statusCode >= 500) reply.log.error({ ...line, err: error ?? undefined }, 'request failed');
    else reply.log.info(line, 'request completed');
  }
}

/** The version the OpenAPI document states: the package's. */
const API_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the HTTP API without listening, so tests can `inject()` into it or listen on port 0. */
export async function buildApi(deps: ApiDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
    trustProxy: deps.config.TRUST_PROXY,
    // Keep a caller's x-request-id (when it is sane) so one id follows a request across services.
    // genReqId reads the header itself: with `requestIdHeader` set, Fastify would take any
    // non-empty header verbatim (500 characters, spaces…) and never call genReqId.
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    logController: new OneLinePerRequest({ requestIdLogLabel: 'requestId' }),
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(schemaCompiler);
  registerJsonBodyParser(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Fastify closes only the connections idle when shutdown begins. A keep-alive connection whose
  // request was in flight would stay open after its answer, until the client hangs up, holding
  // shutdown past its grace period: tell such clients to close.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.setErrorHandler((error, request, reply) => sendError(reply, toAppError(error as Error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new AppError('not_found', `No route ${request.method} ${request.url.split('?')[0]}.`)),
  );

  // Before any route: the duration hook must apply to every route registered after it.
  if (deps.metrics) registerMetricsRoutes(app, deps.metrics, deps.config.METRICS_TOKEN, healthLogLevel(app));
  registerAuthentication(app, deps.auth);
  await registerOpenApi(app, API_VERSION);
  registerHealthRoutes(app, deps.redis, deps.pool);
  await app.register(authRoutes, { auth: deps.auth });
  const archive = new ArchiveReader(deps.pool, deps.config.DEFAULT_TIMEOUT_MS);
  await app.register(queueRoutes, {
    config: deps.config,
    engine: deps.engine,
    registry: deps.registry,
    archive,
    live: deps.live,
    onAccepted: observeAccepted(deps.metrics, deps.lifecycle),
  });
  await app.register(eventRoutes, { engine: deps.engine, live: deps.live });
  await app.register(adminRoutes, { engine: deps.engine, archive, admin: new QueueAdmin(deps.engine) });
  await registerWebConsole(app);
  return app;
}
