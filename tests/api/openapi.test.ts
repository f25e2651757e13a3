/**
 * The OpenAPI document is generated from the route schemas: it must list every route with its
 * request and response schemas, declare the bearer scheme, and hold together as OpenAPI 3.
 * Swagger UI is served at /docs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean; schema?: object }[];
  requestBody?: { content?: Record<string, { schema?: object }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: object }> }>;
}

interface Document {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, { type: string; scheme?: string }> };
  paths: Record<string, Record<string, Operation>>;
}

/** Every route of the API, as OpenAPI names it; `bearer` when it needs an access token, `body` when it takes one. */
const ROUTES: { method: string; path: string; bearer: boolean; body?: boolean }[] = [
  { method: 'get', path: '/health/live', bearer: false },
  { method: 'get', path: '/health/ready', bearer: false },
  { method: 'post', path: '/api/auth/register', bearer: false, body: true },
  { method: 'post', path: '/api/auth/login', bearer: false, body: true },
  { method: 'post', path: '/api/auth/refresh', bearer: false, body: true },
  { method: 'post', path: '/api/auth/logout', bearer: true },
  { method: 'get', path: '/api/auth/me', bearer: true },
  { method: 'post', path: '/api/queue/enqueue', bearer: true, body: true },
  { method: 'get', path: '/api/queue', bearer: true },
  { method: 'get', path: '/api/queue/types', bearer: true },
  { method: 'get', path: '/api/queue/requests', bearer: true },
  { method: 'get', path: '/api/queue/requests/{id}', bearer: true },
  { method: 'delete', path: '/api/queue/requests/{id}', bearer: true },
  { method: 'get', path: '/api/queue/dequeue', bearer: true },
  { method: 'get', path: '/api/queue/events', bearer: true },
  { method: 'get', path: '/api/admin/queues', bearer: true },
  { method: 'get', path: '/api/admin/dead-letters', bearer: true },
  { method: 'post', path: '/api/admin/dead-letters/{id}/retry', bearer: true },
];

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let server: TestServer;
let doc: Document;
beforeAll(async () => {
  server = await startTestServer();
  const response = await server.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  doc = response.json<Document>();
});
afterAll(async () => {
  await server.stop();
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3 document with the bearer security scheme', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toEqual(expect.objectContaining({ title: 'laneq', version: expect.any(String) }));
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
  });

  it('lists every route, and nothing else', () => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).filter((key) => METHODS.includes(key)).map((method) => `${method} ${path}`),
    );
    expect(listed.sort()).toEqual(ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it.each(ROUTES)('$method $path has its request and response schemas', ({ method, path, bearer, body }) => {
    const operation = doc.paths[path]?.[method] as Operation;
    expect(operation.tags?.length, 'tags').toBeGreaterThan(0);
    const responses = Object.entries(operation.responses ?? {});
    expect(responses.some(([status]) => status.startsWith('2')), 'a 2xx response').toBe(true);
    for (const [status, response] of responses) {
      expect(response.description, `${status} description`).toEqual(expect.any(String));
      if (status !== '204') expect(response.content?.['application/json']?.schema, `${status} schema`).toEqual(expect.any(Object));
    }
    if (bearer) {
      expect(operation.security).toEqual([{ bearer: [] }]);
      expect(Object.keys(operation.responses ?? {})).toContain('401');
    } else {
      expect(operation.security).toBeUndefined();
    }
    if (body) expect(operation.requestBody?.content?.['application/json']?.schema, 'request body schema').toEqual(expect.any(Object));
    for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1])) {
      expect(operation.parameters, `path parameter ${name}`).toContainEqual(
        expect.objectContaining({ name, in: 'path', required: true, schema: expect.any(Object) }),
      );
    }
  });

  it('states this deployment\'s limits in the enqueue schema', () => {
    const schema = JSON.stringify(doc.paths['/api/queue/enqueue']?.post?.requestBody);
    expect(schema).toContain(`"maximum":${server.config.MAX_ATTEMPTS_LIMIT}`);
    expect(schema).toContain('"maxItems":1000');
  });
});

describe('GET /docs', () => {
  it('answers Swagger UI as HTML', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toMatch(/swagger-ui/i);
  });
});
