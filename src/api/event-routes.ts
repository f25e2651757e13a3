import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import Type from 'typebox';
import { claimsOf } from '../auth/authenticate.js';
import { ErrorResponse } from '../auth/schemas.js';
import type { QueueEngine } from '../queue/engine.js';
import { compareEvents, eventId, resumeTime, type LiveEvents, type RequestEvent } from '../queue/live-events.js';

export interface EventRouteOptions {
  engine: QueueEngine;
  live: LiveEvents;
  /** how often an idle stream gets a comment, so proxies do not close it */
  keepAliveMs?: number;
}

const EventsQuery = Type.Object(
  { lastEventId: Type.Optional(Type.String({ maxLength: 200, description: 'Resume point, as the Last-Event-ID header.' })) },
  { additionalProperties: false },
);

function frame(event: RequestEvent): string {
  const data = { id: event.id, status: event.status, attempt: event.attempt, at: new Date(event.at).toISOString() };
  return `id: ${eventId(event)}\nevent: ${event.status}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * GET /api/queue/events: Server-Sent Events of the caller's request state changes. All open
 * streams of the process share the LiveEvents subscription (no Redis connection per stream) and
 * one keep-alive timer. With Last-Event-ID (header, or `lastEventId` for clients that cannot set
 * headers) the stream first replays what changed since, rebuilt from the records Redis holds,
 * then goes live; events already replayed are not sent twice.
 */
export const eventRoutes: FastifyPluginAsyncTypebox<EventRouteOptions> = async (app, { engine, live, keepAliveMs = 15_000 }) => {
  const streams = new Set<ServerResponse>();
  const keepAlive = setInterval(() => {
    for (const stream of streams) stream.write(': keep-alive\n\n');
  }, keepAliveMs);
  keepAlive.unref();
  // preClose, not onClose: the server waits for open connections before onClose runs, and an
  // event stream never ends by itself, so shutdown would hang on it.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    clearInterval(keepAlive);
    for (const stream of streams) stream.end();
  });

  app.get(
    '/api/queue/events',
    {
      onRequest: app.requireAuth,
      schema: {
        tags: ['queue'],
        summary: 'Server-Sent Events of my requests\u2019 state changes (queued, running, succeeded, failed, cancelled)',
        security: [{ bearer: [] }],
        querystring: EventsQuery,
        response: {
          200: Type.String({ description: 'text/event-stream: `id`, `event` (the status) and `data` {id, status, attempt, at}' }),
          401: ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const clientId = claimsOf(request).sub;
      const header = request.headers['last-event-id'];
      const lastEventId = typeof header === 'string' ? header : request.query.lastEventId;
      const since = resumeTime(lastEventId);
      // Events of one millisecond have no reliable order between requests, so a resume replays the
      // whole millisecond of the resume point (all but the resume event itself): a client may see
      // an event of that millisecond twice (event ids tell), never miss one.
      const replayed = new Set<string>(since && lastEventId ? [lastEventId] : []);
      const pending: RequestEvent[] = [];
      let replaying = true;
      const stream = reply.raw;
      const send = (event: RequestEvent) => {
        const id = eventId(event);
        if (replayed.has(id)) return;
        if (replaying) replayed.add(id);
        stream.write(frame(event));
      };
      const unlisten = await live.listen(clientId, (event) => (replaying ? pending.push(event) : send(event)));

      reply.hijack();
      stream.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      stream.write(': connected\n\n');
      streams.add(stream);
      stream.on('close', () => {
        streams.delete(stream);
        unlisten();
      });
      // A stream that opened while shutdown began (its handler was awaiting the watch) missed the
      // preClose sweep: end it now, or the server would wait for it forever.
      if (closing) {
        stream.end();
        return;
      }
      try {
        if (since !== undefined) for (const event of await engine.eventsSince(clientId, since - 1)) send(event);
        for (const event of pending.sort(compareEvents)) send(event);
      } finally {
        replaying = false;
      }
    },
  );
};
