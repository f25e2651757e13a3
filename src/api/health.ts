import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import Type from 'typebox';
import type { RedisClient } from '../redis/connect.js';

const CHECK_TIMEOUT_MS = 2_000;

async function answers(check: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const Checks = Type.Object({ redis: Type.Boolean(), postgres: Type.Boolean() });

export function registerHealthRoutes(app: FastifyInstance, redis: RedisClient, pool: pg.Pool): void {
  app.get(
    '/health/live',
    { logLevel: 'warn', schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
          503: Type.Object({
            error: Type.Object({ code: Type.String(), message: Type.String(), details: Checks }),
          }),
        },
      },
    },
    async (_request, reply) => {
      const [redisUp, postgresUp] = await Promise.all([answers(() => redis.ping()), answers(() => pool.query('SELECT 1'))]);
      const checks = { redis: redisUp, postgres: postgresUp };
      if (redisUp && postgresUp) return { status: 'ready' as const, checks };
      const down = Object.entries(checks).filter(([, up]) => !up).map(([name]) => name);
      return reply.code(503).send({
        error: { code: 'service_unavailable', message: `Not ready: ${down.join(' and ')} not answering.`, details: checks },
      });
    },
  );
}
