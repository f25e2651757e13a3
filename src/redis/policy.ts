import { Cluster } from 'ioredis';
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
 * Refuses to run on a Redis that may evict keys. Where CONFIG is disabled (some managed
 * services), the policy cannot be read; the caller is told so and decides.
 */
export async function assertNoEviction(redis: RedisClient): Promise<'checked' | 'unknown'> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let reply: unknown;
    try {
      reply = await node.config('GET', 'maxmemory-policy');
    } catch {
      return 'unknown';
    }
    const policy = Array.isArray(reply) ? String(reply[1]) : 'unknown';
    if (policy !== 'noeviction') throw new EvictionPolicyError(policy);
  }
  return 'checked';
}
