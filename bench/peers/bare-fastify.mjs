// The baseline of the HTTP comparison: a bare Fastify endpoint that verifies an HS256 JWT with
// jose (what any authenticated endpoint must do at least), checks the JSON body against a schema
// and answers 202 — no queue behind it. PORT and JWT_SECRET from the environment; fastify and jose
// come from the root package.
import { randomUUID } from 'node:crypto';
import process from 'node:process';
import { TextEncoder } from 'node:util';
import Fastify from 'fastify';
import { jwtVerify } from 'jose';

const key = new TextEncoder().encode(process.env.JWT_SECRET);
const app = Fastify({ logger: false });
app.post(
  '/api/queue/enqueue',
  {
    schema: {
      body: {
        type: 'object',
        properties: { type: { type: 'string' }, payload: {} },
        required: ['type'],
        additionalProperties: false,
      },
    },
    onRequest: async (request, reply) => {
      const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
      try {
        if (!match) throw new Error('no token');
        await jwtVerify(match[1], key, { algorithms: ['HS256'] });
      } catch {
        return reply.code(401).send({ error: { code: 'unauthorized' } });
      }
    },
  },
  async (_request, reply) => reply.code(202).send({ id: randomUUID(), status: 'queued', position: 0 }),
);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.send?.({ type: 'ready' });
process.once('SIGTERM', () => void app.close().finally(() => process.exit(0)));
