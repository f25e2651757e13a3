import type { FastifyInstance, LogLevel } from 'fastify';
import { AppError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { metricsAuthorized } from '../observability/metrics-server.js';

/**
 * The API's metrics: one duration observation per HTTP request, labelled with the route pattern
 * (`/api/queue/requests/:id`, never the URL, so ids cannot multiply the series; `unmatched` for
 * 404s of unknown paths), and GET /metrics in Prometheus text format. /metrics is not in the
 * OpenAPI document (it is for Prometheus, not clients) and needs no access token: it is
 * unauthenticated unless METRICS_TOKEN is set, and should be kept off the public network.
 */
export function registerMetricsRoutes(app: FastifyInstance, metrics: Metrics, token: string, logLevel: LogLevel): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { logLevel, schema: { hide: true } }, async (request, reply) => {
    if (!metricsAuthorized(request.headers.authorization, token)) {
      throw new AppError('unauthorized', 'This endpoint needs the metrics token (METRICS_TOKEN) as a Bearer token.');
    }
    const body = await metrics.render();
    return reply.type(metrics.contentType).send(body);
  });
}
