import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { createAuthService } from './auth/index.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool, ensureDatabase } from './db/pool.js';
import { LifecycleLog } from './observability/lifecycle.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { observeRunner } from './observability/observers.js';
import type { QueueEngine } from './queue/engine.js';
import { createEngine } from './queue/index.js';
import { LiveEvents } from './queue/live-events.js';
import { assertCurrentLayout } from './queue/upgrade-layout.js';
import { closeRedis, connectRedis, type RedisClient } from './redis/connect.js';
import { assertNoEviction } from './redis/policy.js';
import { loadHandlers } from './worker/handlers/registry.js';
import { startWorker, type WorkerProcess } from './worker/index.js';
import type { RunnerHooks } from './worker/runner.js';

export interface RunningServer {
  /** the HTTP API (undefined when ROLE=worker) */
  app: FastifyInstance | undefined;
  redis: RedisClient;
  pool: pg.Pool;
  engine: QueueEngine;
  /** the worker (undefined when ROLE=api) */
  worker: WorkerProcess | undefined;
  /** The address the API listens on, e.g. http://127.0.0.1:3000 ('' when ROLE=worker) */
  url: string;
  /** This process's Prometheus endpoint: the API's /metrics, or a worker's own metrics server ('' when none) */
  metricsUrl: string;
  close(): Promise<void>;
}

/** What start-up has opened so far, closed in reverse order if start-up fails or at shutdown. */
class Closers {
  private readonly closers: (() => Promise<unknown>)[] = [];

  add(closer: () => Promise<unknown>): void {
    this.closers.unshift(closer);
  }

  async closeAll(): Promise<void> {
    for (const closer of this.closers.splice(0)) await closer().catch(() => undefined);
  }
}

/**
 * The composition root: connects to PostgreSQL (creating and migrating the database) and Redis,
 * then starts the roles the configuration asks for: the HTTP API, the worker, or both.
 * `close()` stops accepting, lets in-flight HTTP requests and handlers finish, then closes pools.
 * A start-up that fails part-way closes what it had opened before rethrowing.
 */
export async function startServer(config: Config, logger: Logger, hooks: RunnerHooks = {}): Promise<RunningServer> {
  if (config.jwtSecretGenerated && config.ROLE !== 'worker') {
    logger.warn('JWT_SECRET is not set: using a random secret, so tokens will not survive a restart');
  }
  const closers = new Closers();
  try {
    await ensureDatabase(config.DATABASE_URL);
    const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, (error) =>
      logger.warn({ err: error }, 'idle PostgreSQL connection failed'),
    );
    closers.add(() => pool.end());
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ applied }, 'database migrated');

    const redis = connectRedis(config, 'laneq-api');
    closers.add(() => closeRedis(redis));
    redis.on('error', (error: Error) => logger.warn({ err: error }, 'Redis connection error'));
    if ((await assertNoEviction(redis)) === 'unknown') {
      logger.warn('could not read Redis maxmemory-policy (CONFIG disabled?); make sure it is noeviction');
    }
    const registry = await loadHandlers(config.HANDLERS, config.HTTP_ALLOWED_HOSTS);
    const engine = createEngine(config, redis);
    await assertCurrentLayout(engine);
    const metrics = config.METRICS_ENABLED ? new Metrics(logger) : undefined;
    metrics?.watchQueues(engine);
    const lifecycle = new LifecycleLog(logger, config);
    let metricsUrl = '';
    // A worker process has no API port: it serves its metrics on a port of its own, opened first so
    // that a port already taken stops start-up before any work is claimed; closed last.
    if (metrics && config.ROLE === 'worker' && config.WORKER_METRICS_PORT > 0) {
      const server = await startMetricsServer(metrics, { host: config.HOST, port: config.WORKER_METRICS_PORT, token: config.METRICS_TOKEN }, logger);
      closers.add(() => server.close());
      metricsUrl = `${server.url}/metrics`;
    }

    const worker =
      config.ROLE === 'api'
        ? undefined
        : await startWorker({ config, logger, pool, registry, hooks: observeRunner(metrics, lifecycle, hooks), metrics });
    if (worker) closers.add(() => worker.stop());

    let app: FastifyInstance | undefined;
    let url = '';
    if (config.ROLE !== 'worker') {
      // Loaded only where it is used: a worker process does without the HTTP stack.
      const { buildApi } = await import('./api/app.js');
      const auth = createAuthService(config, redis, pool);
      auth.onLogout(async (userId) => {
        await engine.markClientGone(userId);
      });
      // One subscriber connection serves every long poll and event stream of this process.
      const subscriber = connectRedis(config, 'laneq-api-events');
      closers.add(() => closeRedis(subscriber));
      subscriber.on('error', (error: Error) => logger.warn({ err: error }, 'Redis events connection error'));
      const live = new LiveEvents(redis, subscriber, engine.keys);
      await live.start();
      closers.add(() => live.stop());
      const api = await buildApi({ config, logger, redis, pool, auth, engine, registry, live, metrics, lifecycle });
      app = api;
      // The API closes first at shutdown: no new work arrives while the worker drains. In-flight
      // requests get the grace period; connections still open after it (a client that keeps a
      // stream or a keep-alive socket busy) are cut, so shutdown always ends.
      closers.add(async () => {
        const cut = setTimeout(() => api.server.closeAllConnections(), config.SHUTDOWN_GRACE_MS);
        try {
          await api.close();
        } finally {
          clearTimeout(cut);
        }
      });
      url = await api.listen({ host: config.HOST, port: config.PORT });
      if (metrics) metricsUrl = `${url}/metrics`;
    }

    let closing: Promise<void> | undefined;
    const close = () => (closing ??= closers.closeAll());
    return { app, redis, pool, engine, worker, url, metricsUrl, close };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
