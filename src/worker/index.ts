import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createEngine, createWorkerOps } from '../queue/index.js';
import type { QueueEngine } from '../queue/engine.js';
import { closeRedis, connectRedis, type RedisClient } from '../redis/connect.js';
import { Archiver } from './archiver.js';
import type { HandlerRegistry } from './handlers/registry.js';
import { LeaseRecovery, RetryPromoter } from './maintenance.js';
import { Runner, type RunnerHooks } from './runner.js';

export interface WorkerProcess {
  engine: QueueEngine;
  runner: Runner;
  archiver: Archiver;
  recovery: LeaseRecovery;
  promoter: RetryPromoter;
  /** Stops claiming, drains within the grace period, gives back what is left, flushes the archive. */
  stop(): Promise<void>;
}

export interface WorkerOptions {
  config: Config;
  logger: Logger;
  pool: pg.Pool;
  registry: HandlerRegistry;
  hooks?: RunnerHooks;
  /** counts lease recoveries and archived rows, and watches the runner (absent when METRICS_ENABLED=false) */
  metrics?: Metrics;
}

/**
 * A worker: the runner plus the maintenance services, on two Redis connections (commands, and
 * the wake subscription) whatever the number of clients.
 */
export async function startWorker({ config, logger, pool, registry, hooks = {}, metrics }: WorkerOptions): Promise<WorkerProcess> {
  const log = logger.child({ component: 'worker' });
  // No ioredis auto-pipelining: the runner already sends one script call per shard for all the
  // completions of an event-loop turn, and auto-pipelining's string building cost more CPU than it
  // saved (measured with npm run bench:engine: 14k → 20k requests/s).
  const redis: RedisClient = connectRedis(config, 'laneq-worker');
  const subscriber: RedisClient = connectRedis(config, 'laneq-worker-wake');
  for (const connection of [redis, subscriber]) {
    connection.on('error', (error: Error) => log.warn({ err: error }, 'Redis connection error'));
  }
  const engine = createEngine(config, redis);
  const ops = createWorkerOps(config, engine);
  const promoter = new RetryPromoter(ops, log, 1_000);
  const recovery = new LeaseRecovery(ops, log, Math.min(1_000, Math.floor(config.LEASE_MS / 4)), (redelivered, deadLettered) =>
    metrics?.leasesRecovered(redelivered, deadLettered),
  );
  const archiver = new Archiver(redis, pool, engine.keys.shards, log, config.ARCHIVE_BATCH, (rows) => metrics?.archived(rows));
  const runner = new Runner(
    ops,
    registry,
    subscriber,
    engine.keys.wakeChannel,
    {
      concurrency: config.WORKER_CONCURRENCY,
      leaseMs: config.LEASE_MS,
      heartbeatMs: config.HEARTBEAT_MS,
      retryBaseMs: config.RETRY_BASE_MS,
      retryMaxMs: config.RETRY_MAX_MS,
      maxResultBytes: config.PAYLOAD_LIMIT_BYTES * 4,
      runLength: config.WORKER_RUN_LENGTH,
    },
    log,
    {
      ...hooks,
      onRetryScheduled: (delayMs) => {
        promoter.wakeWithin(delayMs);
        hooks.onRetryScheduled?.(delayMs);
      },
    },
  );

  metrics?.watchRunner(runner, config.WORKER_CONCURRENCY);
  await runner.start();
  promoter.start();
  recovery.start();
  archiver.start();
  log.info({ concurrency: config.WORKER_CONCURRENCY, shards: config.QUEUE_SHARDS }, 'worker started');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await runner.stop(config.SHUTDOWN_GRACE_MS);
      await Promise.all([promoter.stop(), recovery.stop()]);
      await archiver.stop();
      await archiver.runOnce().catch((error: unknown) => log.warn({ err: error }, 'final archive flush failed'));
      await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
      log.info('worker stopped');
    })());
  return { engine, runner, archiver, recovery, promoter, stop };
}
