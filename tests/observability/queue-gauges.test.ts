/**
 * The queue gauges' reading from Redis: exact on a quiet queue, on a single Redis and on a Redis
 * Cluster (one pipeline per shard must reach the shard's master), and cached for a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewRequest, QueueEngine } from '../../src/queue/engine.js';
import { createEngine } from '../../src/queue/index.js';
import { QueueSnapshotReader } from '../../src/observability/queue-gauges.js';
import { closeRedis, connectRedis, type RedisClient } from '../../src/redis/connect.js';
import { deleteKeys, testConfig } from '../helpers/context.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

const request: NewRequest = { type: 'noop', payload: null, maxAttempts: 1, timeoutMs: 1_000 };
const clientId = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** 20 clients with 1–3 requests each (40 in all), spread over the shards. */
async function fill(engine: QueueEngine): Promise<{ requests: number; clients: number }> {
  const entries = Array.from({ length: 20 }, (_, n) => Array.from({ length: 1 + (n % 3) }, () => ({ clientId: clientId(n), request }))).flat();
  await engine.enqueueMany(entries);
  return { requests: entries.length, clients: 20 };
}

for (const mode of ['single Redis', 'Redis Cluster'] as const) {
  describe(`queue gauges on a ${mode}`, () => {
    let cluster: RedisCluster | undefined;
    let redis: RedisClient;
    let engine: QueueEngine;
    let prefix = '';

    beforeAll(async () => {
      if (mode === 'Redis Cluster') cluster = await startRedisCluster();
      const config = testConfig(cluster ? { REDIS_CLUSTER_NODES: cluster.nodes, QUEUE_SHARDS: '6' } : {});
      prefix = config.KEY_PREFIX;
      redis = connectRedis(config, 'laneq-test-gauges');
      engine = createEngine(config, redis);
    });
    afterAll(async () => {
      await closeRedis(redis);
      if (cluster) await cluster.stop();
      else await deleteKeys(prefix);
    });

    it('counts pending requests and clients with work, and caches the reading for a second', async () => {
      const reader = new QueueSnapshotReader(redis, engine.keys.shards);
      expect(await reader.read()).toEqual({
        pending: 0,
        running: 0,
        waitingRetry: 0,
        deadLettered: 0,
        clientsWithWork: 0,
        archiveBacklog: 0,
        archiveOldestAgeSeconds: 0,
      });
      const { requests, clients } = await fill(engine);
      expect((await reader.read()).pending).toBe(0); // still the cached reading
      await new Promise((resolve) => setTimeout(resolve, 1_050));
      expect(await reader.read()).toMatchObject({ pending: requests, running: 0, clientsWithWork: clients, archiveBacklog: 0 });
    });
  });
}
