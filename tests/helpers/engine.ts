/**
 * Engine test fixtures: an isolated configuration (own key prefix and database), the engine, and
 * in-process workers, plus the checks every ordering test needs.
 */
import type { Config } from '../../src/config.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, ensureDatabase, type Pool } from '../../src/db/pool.js';
import { createLogger } from '../../src/observability/logger.js';
import { createEngine, createWorkerOps } from '../../src/queue/index.js';
import type { QueueEngine } from '../../src/queue/engine.js';
import type { RequestRecord } from '../../src/queue/records.js';
import type { WorkerOps } from '../../src/queue/worker-ops.js';
import { closeRedis, connectRedis, type RedisClient } from '../../src/redis/connect.js';
import { HandlerRegistry } from '../../src/worker/handlers/registry.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import type { HandlerMap } from '../../src/worker/handlers/types.js';
import { startWorker, type WorkerProcess } from '../../src/worker/index.js';
import type { RunnerHooks } from '../../src/worker/runner.js';
import { deleteKeys, dropDatabase, testConfig } from './context.js';

export interface EngineFixture {
  config: Config;
  redis: RedisClient;
  pool: Pool;
  engine: QueueEngine;
  ops: WorkerOps;
  workers: WorkerProcess[];
  startWorker(handlers?: HandlerMap, hooks?: RunnerHooks, overrides?: Partial<Config>): Promise<WorkerProcess>;
  cleanup(): Promise<void>;
}

/**
 * With `REDIS_CLUSTER_NODES` among the overrides, the engine (and every worker) runs on that
 * Redis Cluster instead of the shared Redis; the cluster's keys are left to whoever stops it.
 */
export async function engineFixture(overrides: Record<string, string> = {}): Promise<EngineFixture> {
  const config = testConfig({ HEARTBEAT_MS: '1000', LEASE_MS: '5000', RETRY_BASE_MS: '20', RETRY_MAX_MS: '200', ...overrides });
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, 4, () => undefined);
  await migrate(pool);
  const redis = connectRedis(config, 'laneq-test');
  const engine = createEngine(config, redis);
  const ops = createWorkerOps(config, engine);
  const workers: WorkerProcess[] = [];
  const logger = createLogger(config.LOG_LEVEL);
  return {
    config,
    redis,
    pool,
    engine,
    ops,
    workers,
    async startWorker(handlers = {}, hooks = {}, configOverrides = {}) {
      const registry = new HandlerRegistry({ ...builtinHandlers([]), ...handlers });
      const worker = await startWorker({ config: { ...config, ...configOverrides }, logger, pool, registry, hooks });
      workers.push(worker);
      return worker;
    },
    async cleanup() {
      await Promise.all(workers.map((worker) => worker.stop()));
      await closeRedis(redis);
      await pool.end();
      const onSharedRedis = config.REDIS_CLUSTER_NODES === '';
      await Promise.all([dropDatabase(config.DATABASE_URL), onSharedRedis ? deleteKeys(config.KEY_PREFIX) : undefined]);
    },
  };
}

/** Polls until `check` is true (for conditions only visible in Redis or PostgreSQL). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface OrderReport {
  orderViolations: string[];
  overlapViolations: string[];
}

/**
 * Checks, per client, from the engine's own (Redis-clock) times: requests started in enqueue
 * order, and each started only after the previous one finished.
 */
export function checkOrder(recordsByClient: Map<string, RequestRecord[]>): OrderReport {
  const report: OrderReport = { orderViolations: [], overlapViolations: [] };
  for (const [client, records] of recordsByClient) {
    for (let i = 1; i < records.length; i += 1) {
      const previous = records[i - 1] as RequestRecord;
      const current = records[i] as RequestRecord;
      if (current.status === 'cancelled' || previous.status === 'cancelled') continue;
      if ((current.startedAt ?? 0) < (previous.startedAt ?? 0)) {
        report.orderViolations.push(`${client}: ${current.id} started before ${previous.id}`);
      }
      if ((current.startedAt ?? 0) < (previous.finishedAt ?? Number.POSITIVE_INFINITY)) {
        report.overlapViolations.push(`${client}: ${current.id} started before ${previous.id} finished`);
      }
    }
  }
  return report;
}

/** The error `promise` rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
