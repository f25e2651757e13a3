import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** Either a single Redis server or a Redis Cluster: the engine's key layout works on both. */
export type RedisClient = Redis | Cluster;

export interface RedisSettings {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES: string;
}

/**
 * Opens a connection (or a cluster client) named after its purpose, so `CLIENT LIST` shows who
 * holds which connection. Commands issued while Redis is down fail fast instead of queueing
 * without bound: callers turn that into a 503, never a hung request.
 */
export function connectRedis(settings: RedisSettings, name: string, extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    ...extra,
  };
  if (settings.REDIS_CLUSTER_NODES !== '') {
    const nodes = settings.REDIS_CLUSTER_NODES.split(',').map((seed) => {
      const [host = '127.0.0.1', port = '6379'] = seed.split(':');
      return { host, port: Number(port) };
    });
    return new Cluster(nodes, { redisOptions: options, enableOfflineQueue: true, scaleReads: 'master' });
  }
  return new Redis(settings.REDIS_URL, options);
}

/** Closes a client, waiting for replies already under way, but never longer than a moment. */
export async function closeRedis(client: RedisClient): Promise<void> {
  await Promise.race([client.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000))]);
  client.disconnect();
}
