/**
 * The metrics endpoint of a worker process (ROLE=worker), which runs no HTTP API: a bare
 * node:http server, so a worker does not load Fastify for two routes. GET /metrics (Prometheus
 * text format) and GET /health/live (for container health checks); anything else is 404.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  close(): Promise<void>;
}

/** Whether the request may read the metrics: always when no token is configured. */
export function metricsAuthorized(authorization: string | undefined, token: string): boolean {
  if (token === '') return true;
  const given = Buffer.from(authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function answer(metrics: Metrics, token: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
  } else if (path === '/health/live') {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else if (path !== '/metrics') {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  } else if (!metricsAuthorized(request.headers.authorization, token)) {
    response.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
  } else {
    const body = await metrics.render();
    response.writeHead(200, { 'content-type': metrics.contentType }).end(body);
  }
}

export async function startMetricsServer(
  metrics: Metrics,
  options: { host: string; port: number; token: string },
  log: Logger,
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    answer(metrics, options.token, request, response).catch((error: unknown) => {
      log.error({ err: error }, 'metrics request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  // Scrapes are short: an idle keep-alive connection must not hold shutdown up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
