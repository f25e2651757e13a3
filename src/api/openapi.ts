import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * The OpenAPI 3.1 document, generated from the route schemas (so it cannot drift from what the
 * routes validate and serialize), at GET /openapi.json, and Swagger UI at /docs. 3.1 because the
 * schemas are JSON Schema 2020-12 (`const`, type lists), which 3.0 cannot express. Registered
 * before the routes: the document is built from the routes registered after it.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'laneq',
        version,
        description: 'Per-client FIFO request queues. Errors: {"error": {"code", "message", "details?"}}, see docs/errors.md.',
      },
      tags: [
        { name: 'auth', description: 'Accounts and sessions' },
        { name: 'queue', description: 'The caller\'s own queue' },
        { name: 'admin', description: 'Operators (role admin)' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', logLevel: 'warn' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
