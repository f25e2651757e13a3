import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connect.js';

export class EvictionPolicyError extends Error {
  constructor(policy: string) {
    super(
      `Redis maxmemory-policy is "${policy}", but laneq needs "noeviction": any other policy lets Redis ` +
        'silently delete queued requests when memory runs short. Set `maxmemory-policy noeviction`.',
    );
    this.name = 'EvictionPolicyError';
  }
}

/**
 * Refuses to run on a Redis that may evict keys; on a Cluster, every master is checked. Where
 * CONFIG is disabled (some managed services) or a node cannot be reached, the policy cannot be
 * read; the caller is told so ('unknown') and decides. 'checked' means every node was read.
 */
export async function assertNoEviction(redis: RedisClient): Promise<'checked' | 'unknown'> {
  const nodes = redis instanceof Cluster ? await clusterMasters(redis) : [redis];
  if (nodes === undefined || nodes.length === 0) return 'unknown';
  let unknown = false;
  for (const node of nodes) {
    let reply: unknown;
    try {
      reply = await node.config('GET', 'maxmemory-policy');
    } catch {
      unknown = true;
      continue;
    }
    const policy = Array.isArray(reply) ? String(reply[1]) : 'unknown';
    if (policy !== 'noeviction') throw new EvictionPolicyError(policy);
  }
  return unknown ? 'unknown' : 'checked';
}

/**
 * The masters of a cluster. A cluster client learns them only once connected: before that,
 * `nodes('master')` is empty and the check would pass without looking at any node. A PING waits
 * (offline queue) until the client is ready; undefined when the cluster cannot be reached.
 */
async function clusterMasters(cluster: Cluster): Promise<Redis[] | undefined> {
  if (cluster.status !== 'ready') {
    try {
      await cluster.ping();
    } catch {
      return undefined;
    }
  }
  return cluster.nodes('master');
}
