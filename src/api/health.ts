import type { FastifyInstance, LogLevel } from 'fastify';
import type pg from 'pg';
import { pino } from 'pino';
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

/**
 * Health checks are polled constantly, so they log only from warn up. A route's logLevel replaces
 * the logger's level rather than raising it, so never go below LOG_LEVEL (error, silent).
 */
export function healthLogLevel(app: FastifyInstance): LogLevel {
  const rank = (level: string) => (level === 'silent' ? Infinity : (pino.levels.values[level] ?? 0));
  return rank(app.log.level) > rank('warn') ? (app.log.level as LogLevel) : 'warn';
}

export function registerHealthRoutes(app: FastifyInstance, redis: RedisClient, pool: pg.Pool): void {
  const logLevel = healthLogLevel(app);
  app.get(
    '/health/live',
    {
      logLevel,
      schema: { tags: ['health'], summary: 'The process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      logLevel,
      schema: {
        tags: ['health'],
        summary: 'Redis and PostgreSQL answer (503 naming which does not)',
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
