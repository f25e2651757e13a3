import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { Static } from 'typebox';
import Type from 'typebox';
import { claimsOf } from '../auth/authenticate.js';
import { ErrorResponse } from '../auth/schemas.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { ArchiveReader } from '../queue/archive-reader.js';
import type { Accepted as EngineAccepted, NewRequest as EngineRequest, QueueEngine } from '../queue/engine.js';
import type { RequestRecord, RequestStatus } from '../queue/records.js';
import type { HandlerRegistry } from '../worker/handlers/registry.js';
import { toNewRequest, type NewRequestBody } from './enqueue.js';
import {
  Accepted,
  AcceptedBatch,
  Cancelled,
  DEFAULT_PAGE,
  DequeueQuery,
  enqueueSchemas,
  ListQuery,
  NoQuery,
  QueueStats,
  RequestIdParams,
  RequestPage,
  RequestTypes,
  RequestView,
} from './queue-schemas.js';
import { canonicalId, decodeCursor, mergePage, toView } from './request-views.js';
import { compileBranches, schemaCompiler } from './validation.js';
import { pollUntil, waitForFinished } from './wait-for-result.js';
import type { LiveEvents } from '../queue/live-events.js';

/** Whether an error refuses the request's body (its shape, size, encoding or content type). */
function refusesBody(error: Error): boolean {
  const status = error instanceof AppError ? error.status : (error as { statusCode?: number }).statusCode;
  return status === 400 || status === 413 || status === 415;
}

export interface QueueRouteOptions {
  config: Config;
  engine: QueueEngine;
  registry: HandlerRegistry;
  archive: ArchiveReader;
  live: LiveEvents;
  /** told of every request an enqueue call accepted (metrics, lifecycle lines) */
  onAccepted?: (clientId: string, requests: readonly EngineRequest[], accepted: readonly EngineAccepted[]) => void;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
const security = [{ bearer: [] }];

/** How long a dequeue waits for the archive to catch up with a result that left Redis already. */
const ARCHIVE_CATCH_UP_MS = 3_000;

/**
 * The client-facing queue API. A client (the user id in its access token) only ever sees its own
 * requests: another client's request id answers 404, exactly like an unknown or malformed one.
 */
export const queueRoutes: FastifyPluginAsyncTypebox<QueueRouteOptions> = async (app, { config, engine, registry, archive, live, onAccepted }) => {
  const { NewRequest, NewBatch, EnqueueBody } = enqueueSchemas({
    maxAttempts: config.MAX_ATTEMPTS_LIMIT,
    maxTimeoutMs: config.MAX_TIMEOUT_MS,
  });
  // Long polls end (with 204) when the server begins to shut down, so shutdown is not held up.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  /** One of the client's requests, from Redis or else from the archive; undefined when neither has it. */
  async function findRequest(clientId: string, rawId: string): Promise<RequestRecord | undefined> {
    const id = canonicalId(rawId);
    if (id === undefined) return undefined;
    return (await engine.get(clientId, id)) ?? (await archive.get(clientId, id))?.record;
  }

  /**
   * The answer for one accepted request. An idempotent repeat names its original, whose status
   * the engine reports as 'archived' once it has left Redis: the archive then has its status.
   */
  async function answerFor(clientId: string, accepted: EngineAccepted): Promise<Static<typeof Accepted>> {
    const status = accepted.status === 'archived' ? (await archive.get(clientId, accepted.id))?.record.status : accepted.status;
    if (status === undefined) throw new AppError('service_unavailable', 'The original request is still being archived; retry shortly.');
    return { id: accepted.id, status, ...(status === 'queued' && accepted.position >= 0 ? { position: accepted.position } : {}) };
  }

  app.post(
    '/api/queue/enqueue',
    {
      // The session's revocation and the rate limit are checked by the enqueue script itself.
      onRequest: app.requireToken,
      // The body is checked before the script that checks the session: a logged-out token with a
      // bad body hears 401, as on every other route, rather than what is wrong with its body.
      errorHandler: async (error, request) => {
        if (request.claims && refusesBody(error)) await app.requireAuth(request);
        throw error;
      },
      bodyLimit: config.ENQUEUE_BODY_LIMIT_BYTES,
      validatorCompiler: (route) =>
        route.httpPart === 'body' ? compileBranches('requests', NewBatch, NewRequest) : schemaCompiler(route),
      schema: {
        tags: ['queue'],
        summary: 'Enqueue one request, or a batch of up to 1,000 (all or none, in array order)',
        security,
        body: EnqueueBody,
        response: { 202: Type.Union([Accepted, AcceptedBatch]), ...errors(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const claims = claimsOf(request);
      const clientId = claims.sub;
      const body = request.body;
      const batch = 'requests' in body;
      const items: NewRequestBody[] = batch ? body.requests : [body];
      const requests = items.map((item, index) => toNewRequest(item, batch ? `requests[${index}].` : '', registry, config));
      // At most MAX_BATCH requests of one client: one engine script call, so all or none.
      const enqueued = await engine.enqueue(clientId, requests, {
        sessionFamily: claims.sid,
        perSecond: config.RATE_LIMIT_ENQUEUE_PER_S,
      });
      onAccepted?.(clientId, requests, enqueued);
      const accepted = await Promise.all(enqueued.map((one) => answerFor(clientId, one)));
      return reply.code(202).send(batch ? { requests: accepted } : (accepted[0] as Static<typeof Accepted>));
    },
  );

  app.get(
    '/api/queue',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'Figures of the caller\'s queue',
        security,
        querystring: NoQuery,
        response: { 200: QueueStats, ...errors(400, 401, 503) },
      },
    },
    async (request) => engine.stats(claimsOf(request).sub),
  );

  app.get(
    '/api/queue/types',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'The request types this deployment runs, with their payload schemas',
        security,
        querystring: NoQuery,
        response: { 200: RequestTypes, ...errors(400, 401) },
      },
    },
    async () => ({ types: registry.types() }),
  );

  app.get(
    '/api/queue/requests/:id',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'One of the caller\'s requests, from Redis or, once out of retention, from the archive',
        security,
        params: RequestIdParams,
        querystring: NoQuery,
        response: { 200: RequestView, ...errors(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const record = await findRequest(claimsOf(request).sub, request.params.id);
      if (!record) throw new AppError('not_found', 'No such request.');
      return toView(record);
    },
  );

  app.get(
    '/api/queue/requests',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'A page of the caller\'s requests, newest first',
        security,
        querystring: ListQuery,
        response: { 200: RequestPage, ...errors(400, 401, 503) },
      },
    },
    async (request) => {
      const before = decodeCursor(request.query.cursor);
      if (before === undefined) {
        throw new AppError('validation_failed', undefined, [{ field: 'querystring.cursor', message: 'is not a cursor of this list' }]);
      }
      const limit = request.query.limit ?? DEFAULT_PAGE;
      return listPage(claimsOf(request).sub, { before, limit, status: request.query.status });
    },
  );

  /**
   * Sources and consistency: the archive is read first, then Redis, whose copy wins for an id both
   * hold. Redis shows, in one atomic look, the client's unfinished requests and its finished ones
   * still in retention, so a request finishing meanwhile is seen once, in one state or the other.
   * A just-finished request that the batch archiver has not written yet is in Redis; one archived
   * between the two reads is still in Redis too (retention outlasts the archive's lag), so nothing
   * falls between the reads. Not covered: a request trimmed from retention before it was archived
   * (an archive lagging by more than RESULT_RETENTION_S, or RESULT_RETENTION_COUNT finishes) is
   * missing from pages until it is archived.
   */
  async function listPage(clientId: string, options: { before: string; limit: number; status?: RequestStatus }) {
    const { before, limit, status } = options;
    const liveOnly = status === 'queued' || status === 'running';
    const archived = liveOnly ? [] : await archive.list(clientId, { before, limit: limit + 1, status });
    const live = await engine.list(clientId, { before, limit: limit + 1, status });
    const { page, nextCursor } = mergePage([archived, live], limit);
    return { requests: page.map(toView), ...(nextCursor ? { nextCursor } : {}) };
  }

  app.delete(
    '/api/queue/requests/:id',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'Cancel a request that is still queued',
        security,
        params: RequestIdParams,
        querystring: NoQuery,
        response: { 200: Cancelled, ...errors(400, 401, 404, 409, 415, 503) },
      },
    },
    async (request) => {
      const clientId = claimsOf(request).sub;
      const id = canonicalId(request.params.id);
      const outcome = id === undefined ? { outcome: 'not_found' as const } : await engine.cancel(clientId, id);
      if (outcome.outcome === 'cancelled') return { id: outcome.record.id, status: 'cancelled' as const };
      // Out of Redis but archived: it finished, so it is not cancellable, but it is the caller's.
      if (outcome.outcome === 'not_cancellable' || (id && (await archive.get(clientId, id)))) {
        throw new AppError('not_cancellable');
      }
      throw new AppError('not_found', 'No such request.');
    },
  );

  /** The next finished request of the client, as the same view as GET /requests/:id. */
  async function dequeueOnce(clientId: string): Promise<RequestRecord | undefined> {
    const next = await engine.dequeue(clientId);
    if (!next) return undefined;
    if (next.record) return next.record;
    // It left Redis retention before the archiver wrote it: give the archiver a moment.
    const found = await pollUntil(async () => (await archive.get(clientId, next.id))?.record, ARCHIVE_CATCH_UP_MS, closing.signal);
    if (found) return found;
    // The outbox has moved past it: name it, so the client can read it by id once archived.
    app.log.error({ clientId, requestId: next.id }, 'dequeued result is neither in Redis nor in the archive');
    throw new AppError('service_unavailable', 'The result is still being archived; read it by id shortly.', { id: next.id });
  }

  app.get(
    '/api/queue/dequeue',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'Take the oldest finished request not yet dequeued (204 when there is none)',
        security,
        querystring: DequeueQuery,
        response: { 200: RequestView, 204: Type.Null(), ...errors(400, 401, 503) },
      },
    },
    async (request, reply) => {
      const clientId = claimsOf(request).sub;
      const waitMs = (request.query.wait ?? 0) * 1000;
      const gone = whileAnswerWanted(reply, closing.signal);
      try {
        const record = await waitForFinished(live, clientId, () => dequeueOnce(clientId), waitMs, gone.signal);
        if (!record) return reply.code(204).send(null);
        return toView(record);
      } finally {
        gone.release();
      }
    },
  );
};

/**
 * A signal that aborts when the client hangs up before its answer is sent (the response closes
 * unfinished) or when the server shuts down. `release` detaches it from the server's signal, which
 * lives as long as the server, so that listeners do not pile up on it.
 */
export function whileAnswerWanted(reply: FastifyReply, closing: AbortSignal): { signal: AbortSignal; release: () => void } {
  const gone = new AbortController();
  const abort = () => gone.abort();
  closing.addEventListener('abort', abort, { once: true });
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort();
  });
  return { signal: gone.signal, release: () => closing.removeEventListener('abort', abort) };
}
