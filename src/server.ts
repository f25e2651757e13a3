import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildApi } from './api/app.js';
import { createAuthService } from './auth/index.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool, ensureDatabase } from './db/pool.js';
import type { Logger } from './observability/logger.js';
import { closeRedis, connectRedis, type RedisClient } from './redis/connect.js';

export interface RunningServer {
  app: FastifyInstance;
  redis: RedisClient;
  pool: pg.Pool;
  /** The address the API listens on, e.g. http://127.0.0.1:3000 */
  url: string;
  close(): Promise<void>;
}

/**
 * The composition root: connects to Redis and PostgreSQL, migrates, wires the components and
 * listens. `close()` stops accepting, lets in-flight requests finish, then closes the pools.
 */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  if (config.jwtSecretGenerated) {
    logger.warn('JWT_SECRET is not set: using a random secret, so tokens will not survive a restart');
  }
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, (error) =>
    logger.warn({ err: error }, 'idle PostgreSQL connection failed'),
  );
  const applied = await migrate(pool);
  if (applied.length > 0) logger.info({ applied }, 'database migrated');

  const redis = connectRedis(config, 'laneq-api');
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'Redis connection error'));

  const auth = createAuthService(config, redis, pool);
  const app = await buildApi({ config, logger, redis, pool, auth });
  const url = await app.listen({ host: config.HOST, port: config.PORT });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await Promise.all([closeRedis(redis), pool.end()]);
    })());
  return { app, redis, pool, url, close };
}
