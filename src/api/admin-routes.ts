import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorResponse } from '../auth/schemas.js';
import { AppError } from '../errors.js';
import type { QueueAdmin } from '../queue/admin.js';
import type { ArchiveReader } from '../queue/archive-reader.js';
import type { QueueEngine } from '../queue/engine.js';
import type { RequestRecord } from '../queue/records.js';
import {
  DEFAULT_PAGE,
  DeadLetterPage,
  DeadLetterQuery,
  OverviewQuery,
  QueueOverview,
  RequestIdParams,
  Requeued,
} from './queue-schemas.js';
import { canonicalId, decodeCursor, mergePage, toAdminView } from './request-views.js';

export interface AdminRouteOptions {
  engine: QueueEngine;
  archive: ArchiveReader;
  admin: QueueAdmin;
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorResponse]));
const security = [{ bearer: [] }];

/** Operator endpoints: role `admin` only (403 for everyone else). */
export const adminRoutes: FastifyPluginAsyncTypebox<AdminRouteOptions> = async (app, { engine, archive, admin }) => {
  const onRequest = [app.requireAuth, app.requireAdmin];

  app.get(
    '/api/admin/queues',
    {
      onRequest,
      schema: {
        tags: ['admin'],
        summary: 'Totals over all shards and the clients with the deepest queues',
        security,
        querystring: OverviewQuery,
        response: { 200: QueueOverview, ...errors(400, 401, 403, 503) },
      },
    },
    async (request) => admin.overview(request.query.top ?? 10),
  );

  app.get(
    '/api/admin/dead-letters',
    {
      onRequest,
      schema: {
        tags: ['admin'],
        summary: 'Dead-lettered requests of every client, newest first',
        security,
        querystring: DeadLetterQuery,
        response: { 200: DeadLetterPage, ...errors(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const before = decodeCursor(request.query.cursor);
      if (before === undefined) {
        throw new AppError('validation_failed', undefined, [{ field: 'querystring.cursor', message: 'is not a cursor of this list' }]);
      }
      const limit = request.query.limit ?? DEFAULT_PAGE;
      // The archive, plus the dead letters still on their way to it (Redis's copy wins). One retried
      // since stays listed, from the archive, until its new end is archived; retrying it again
      // answers 409 meanwhile.
      const archived = await archive.deadLetters(before, limit + 1);
      const unarchived = await admin.unarchivedDeadLetters(before, limit + 1);
      const { page, nextCursor } = mergePage([archived, unarchived], limit);
      return { deadLetters: page.map(toAdminView), ...(nextCursor ? { nextCursor } : {}) };
    },
  );

  app.post(
    '/api/admin/dead-letters/:id/retry',
    {
      onRequest,
      schema: {
        tags: ['admin'],
        summary: 'Queue a dead letter again, at the tail of its client\'s queue (history kept, attempts from 0)',
        security,
        params: RequestIdParams,
        response: { 202: Requeued, ...errors(400, 401, 403, 404, 409, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const id = canonicalId(request.params.id);
      const found = id === undefined ? undefined : await findDeadLetter(id);
      if (!found) throw new AppError('not_found', 'No such request.');
      if (found.record.status !== 'failed') throw new AppError('not_retryable');
      const outcome = await engine.requeueDeadLetter(found.record.clientId, found.record.id, found.json);
      if (outcome.outcome !== 'queued') {
        throw outcome.outcome === 'not_found' ? new AppError('not_found', 'No such request.') : new AppError('not_retryable');
      }
      return reply.code(202).send({ id: found.record.id, status: 'queued' as const, position: outcome.position });
    },
  );

  /**
   * Its final record. Redis keeps final records by client, so the client comes first, from where
   * dead letters are listed: the archive stream, then the archive (in that order, a record moving
   * from one to the other meanwhile is seen in one of them). The copy Redis still holds, if any, is
   * fresher and wins.
   */
  async function findDeadLetter(id: string): Promise<{ record: RequestRecord; json: string } | undefined> {
    const unarchivedClient = await admin.unarchivedClientOf(id);
    const archived = unarchivedClient === undefined ? await archive.getAny(id) : undefined;
    const clientId = unarchivedClient ?? archived?.record.clientId;
    if (clientId === undefined) return undefined;
    const inRedis = await engine.findFinal(clientId, id);
    if (inRedis) return inRedis;
    const fromArchive = archived ?? (await archive.getAny(id));
    return fromArchive && { record: fromArchive.record, json: JSON.stringify(fromArchive.stored) };
  }
};
