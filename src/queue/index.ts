import type { Config } from '../config.js';
import type { RedisClient } from '../redis/connect.js';
import { QueueEngine } from './engine.js';
import { WorkerOps } from './worker-ops.js';

export function createEngine(config: Config, redis: RedisClient): QueueEngine {
  return new QueueEngine(redis, {
    keyPrefix: config.KEY_PREFIX,
    shards: config.QUEUE_SHARDS,
    maxQueueDepth: config.MAX_QUEUE_DEPTH,
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_S * 1000,
    retentionMs: config.RESULT_RETENTION_S * 1000,
    retentionCount: config.RESULT_RETENTION_COUNT,
  });
}

export function createWorkerOps(config: Config, engine: QueueEngine): WorkerOps {
  return new WorkerOps(engine, {
    leaseMs: config.LEASE_MS,
    retentionMs: config.RESULT_RETENTION_S * 1000,
    retentionCount: config.RESULT_RETENTION_COUNT,
    turnLength: config.WORKER_TURN_LENGTH,
  });
}
