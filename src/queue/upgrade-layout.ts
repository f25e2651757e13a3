import { scanKeys } from './admin.js';
import type { QueueEngine } from './engine.js';

/** A backlog key `<prefix>:{s<n>}:q:<client>`: its shard index and client. */
const BACKLOG_KEY = /^.*:\{s(\d+)\}:q:(.+)$/s;

/**
 * Rewrites every client queue stored in the layout before the heads hash into today's, one
 * client per script call (upgrade_client_layout.lua). Every queue of that layout has a `q:` key
 * (its head was the list's first id), so a SCAN over those keys finds them all. Idempotent; meant
 * to run with every laneq process stopped.
 */
export async function upgradeRedisLayout(engine: QueueEngine): Promise<{ clients: number; requests: number }> {
  const { keys } = await scanKeys(engine.redis, `${engine.keys.prefix}:{s*}:q:*`, Number.POSITIVE_INFINITY);
  let clients = 0;
  let requests = 0;
  for (const key of keys) {
    const [, shardIndex, clientId] = BACKLOG_KEY.exec(key) ?? [];
    const shard = engine.keys.shards[Number(shardIndex)];
    if (shard === undefined || clientId === undefined) {
      throw new Error(`${key} belongs to a shard beyond QUEUE_SHARDS=${engine.keys.shards.length}: set the shard count the data was written with`);
    }
    const rewritten = Number(await engine.scripts.run('upgrade_client_layout', shard, [clientId]));
    if (rewritten > 0) {
      clients += 1;
      requests += rewritten;
    }
  }
  return { clients, requests };
}
