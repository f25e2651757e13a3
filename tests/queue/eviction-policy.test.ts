/**
 * laneq refuses a Redis that may evict keys: an evicted queue key is a lost request. Checked on
 * private servers (never the shared Redis, whose settings other tests rely on): a single server
 * on allkeys-lru, a noeviction one, and a cluster where only one master evicts.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { closeRedis, connectRedis } from '../../src/redis/connect.js';
import { assertNoEviction, EvictionPolicyError } from '../../src/redis/policy.js';
import { startServer } from '../../src/server.js';
import { dropDatabase, testConfig } from '../helpers/context.js';
import { eventually, rejection } from '../helpers/engine.js';
import { startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from '../helpers/redis-cluster.js';

let evicting: RedisServer | undefined;
let safe: RedisServer | undefined;
let cluster: RedisCluster | undefined;

beforeAll(async () => {
  const [a, b, c] = await Promise.allSettled([
    startRedisServer(['--maxmemory-policy', 'allkeys-lru']),
    startRedisServer(['--maxmemory-policy', 'noeviction']),
    startRedisCluster(),
  ]);
  // Whatever started is kept for afterAll to stop, even when another one failed.
  if (a.status === 'fulfilled') evicting = a.value;
  if (b.status === 'fulfilled') safe = b.value;
  if (c.status === 'fulfilled') cluster = c.value;
  for (const result of [a, b, c]) if (result.status === 'rejected') throw result.reason;
});

afterAll(async () => {
  await Promise.all([evicting?.stop(), safe?.stop(), cluster?.stop()]);
});

function server(which: RedisServer | undefined): RedisServer {
  if (!which) throw new Error('server not started');
  return which;
}

function clusterNodes(): string {
  if (!cluster) throw new Error('cluster not started');
  return cluster.nodes;
}

describe('eviction policy check', () => {
  it('refuses a Redis on allkeys-lru, naming the policy and the reason', async () => {
    const redis = new Redis(server(evicting).url);
    try {
      const error = await rejection(assertNoEviction(redis));
      expect(error).toBeInstanceOf(EvictionPolicyError);
      expect(error.message).toContain('"allkeys-lru"');
      expect(error.message).toContain('noeviction');
      expect(error.message).toMatch(/delete queued requests/);
    } finally {
      await closeRedis(redis);
    }
  });

  it('accepts a Redis on noeviction', async () => {
    const redis = new Redis(server(safe).url);
    try {
      expect(await assertNoEviction(redis)).toBe('checked');
    } finally {
      await closeRedis(redis);
    }
  });

  it('makes startServer refuse to start on an evicting Redis', async () => {
    const config = testConfig({ REDIS_URL: server(evicting).url });
    try {
      const error = await rejection(startServer(config, createLogger('silent')));
      expect(error).toBeInstanceOf(EvictionPolicyError);
      // Refusing leaves nothing behind: no connection of the refused server stays open.
      const admin = new Redis(server(evicting).url);
      try {
        await eventually(async () => !((await admin.client('LIST')) as string).includes('name=laneq-api'), 3_000);
      } finally {
        await closeRedis(admin);
      }
    } finally {
      await dropDatabase(config.DATABASE_URL);
    }
  });

  it('lets startServer start on a noeviction Redis', async () => {
    const config = testConfig({ REDIS_URL: server(safe).url, ROLE: 'api' });
    try {
      const running = await startServer(config, createLogger('silent'));
      await running.close();
    } finally {
      await dropDatabase(config.DATABASE_URL);
    }
  });

  it('accepts a cluster whose masters are all on noeviction, and startServer starts on it', async () => {
    const nodes = clusterNodes();
    const fresh = connectRedis({ REDIS_URL: 'redis://unused:1', REDIS_CLUSTER_NODES: nodes }, 'laneq-test-policy');
    try {
      expect(fresh).toBeInstanceOf(Cluster);
      expect(await assertNoEviction(fresh)).toBe('checked');
    } finally {
      await closeRedis(fresh);
    }
    const config = testConfig({ REDIS_CLUSTER_NODES: nodes });
    try {
      const running = await startServer(config, createLogger('silent'));
      await running.close();
    } finally {
      await dropDatabase(config.DATABASE_URL);
    }
  });

  it('refuses a cluster with one master on allkeys-lru, even before the client has connected', async () => {
    const nodes = clusterNodes();
    // A cluster client knows no master until connected: checking at once must not pass vacuously.
    const port = cluster?.ports[cluster.ports.length - 1] as number;
    const node = new Redis({ host: '127.0.0.1', port });
    try {
      await node.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const fresh = connectRedis({ REDIS_URL: 'redis://unused:1', REDIS_CLUSTER_NODES: nodes }, 'laneq-test-policy');
      try {
        const error = await rejection(assertNoEviction(fresh));
        expect(error).toBeInstanceOf(EvictionPolicyError);
        expect(error.message).toContain('"allkeys-lru"');
      } finally {
        await closeRedis(fresh);
      }
      const config = testConfig({ REDIS_CLUSTER_NODES: nodes });
      try {
        expect(await rejection(startServer(config, createLogger('silent')))).toBeInstanceOf(EvictionPolicyError);
      } finally {
        await dropDatabase(config.DATABASE_URL);
      }
    } finally {
      await node.config('SET', 'maxmemory-policy', 'noeviction');
      await closeRedis(node);
    }
  });
});
