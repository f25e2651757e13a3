import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildApi } from './api/app.js';
import { createAuthService } from './auth/index.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool, ensureDatabase } from './db/pool.js';
import type { Logger } from './observability/logger.js';
import type { QueueEngine } from './queue/engine.js';
import { createEngine } from './queue/index.js';
import { closeRedis, connectRedis, type RedisClient } from './redis/connect.js';
import { assertNoEviction } from './redis/policy.js';
import { loadHandlers } from './worker/handlers/registry.js';
import { startWorker, type WorkerProcess } from './worker/index.js';
import type { RunnerHooks } from './worker/runner.js';

export interface RunningServer {
  /** the HTTP API (absent when ROLE=worker) */
  app: FastifyInstance;
  redis: RedisClient;
  pool: pg.Pool;
  engine: QueueEngine;
  /** the worker (absent when ROLE=api) */
  worker: WorkerProcess | undefined;
  /** The address the API listens on, e.g. http://127.0.0.1:3000 ('' when ROLE=worker) */
  url: string;
  close(): Promise<void>;
}

/**
 * The composition root: connects to PostgreSQL (creating and migrating the database) and Redis,
 * then starts the roles the configuration asks for: the HTTP API, the worker, or both.
 * `close()` stops accepting, lets in-flight HTTP requests and handlers finish, then closes pools.
 */
export async function startServer(config: Config, logger: Logger, hooks: RunnerHooks = {}): Promise<RunningServer> {
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
  try {
    if ((await assertNoEviction(redis)) === 'unknown') {
      logger.warn('could not read Redis maxmemory-policy (CONFIG disabled?); make sure it is noeviction');
    }
  } catch (error) {
    // Refusing to start leaves no connection behind (a Redis client would keep reconnecting).
    await Promise.all([closeRedis(redis), pool.end()]);
    throw error;
  }
  const registry = await loadHandlers(config.HANDLERS, config.HTTP_ALLOWED_HOSTS);
  const engine = createEngine(config, redis);
  const auth = createAuthService(config, redis, pool);
  auth.onLogout(async (userId) => {
    await engine.markClientGone(userId);
  });

  const worker = config.ROLE === 'api' ? undefined : await startWorker({ config, logger, pool, registry, hooks });
  const app = await buildApi({ config, logger, redis, pool, auth });
  const url = config.ROLE === 'worker' ? '' : await app.listen({ host: config.HOST, port: config.PORT });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await worker?.stop();
      await Promise.all([closeRedis(redis), pool.end()]);
    })());
  return { app, redis, pool, engine, worker, url, close };
}
