import type pg from 'pg';
import { scanKeys } from './admin.js';
import type { QueueEngine } from './engine.js';
import { SHARD_KEY_NAMES } from './keys.js';

/** Thrown at start-up when Redis holds queues this version would misread (see assertCurrentLayout). */
export class OutdatedLayoutError extends Error {
  constructor(readonly keys: string[]) {
    super(
      `Redis holds queues in an earlier laneq layout (${keys.join(', ')}), which this version would misread. ` +
        'Stop every laneq process, run `npm run upgrade:redis` with this version\'s configuration, then start it ' +
        '(docs/operations.md, "Upgrades").',
    );
    this.name = 'OutdatedLayoutError';
  }
}

/**
 * Refuses to start on queues of an earlier layout. Every earlier layout kept records in the
 * shard's `jobs` hash, which today's scripts never write and the upgrade empties: a `jobs` key
 * means the upgrade has not run. Without this check a forgotten upgrade step would not fail
 * loudly: the claim script would take an id for a record.
 */
export async function assertCurrentLayout(engine: QueueEngine): Promise<void> {
  const jobsKeys = engine.keys.shards.map((shard) => shard.keys[SHARD_KEY_NAMES.indexOf('jobs')] as string);
  // One EXISTS per key: on a Cluster the shards' keys live in different slots.
  const found = await Promise.all(jobsKeys.map(async (key) => ((await engine.redis.exists(key)) === 1 ? key : undefined)));
  const outdated = found.filter((key): key is string => key !== undefined);
  if (outdated.length > 0) throw new OutdatedLayoutError(outdated);
}

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

/**
 * Carries logged-out sessions over from `<prefix>:auth:revoked:<family>` (before revocations
 * moved into their user's queue shard, KeySpace.revokedKey) with the time they have left, so that
 * no access token of a logged-out session works again after the upgrade. The family's user comes
 * from PostgreSQL's sessions table; a family it no longer knows has no token left to refuse.
 */
export async function upgradeRevocations(engine: QueueEngine, pool: pg.Pool): Promise<number> {
  const prefix = `${engine.keys.prefix}:auth:revoked:`;
  const { keys } = await scanKeys(engine.redis, `${prefix}*`, Number.POSITIVE_INFINITY);
  if (keys.length === 0) return 0;
  const families = keys.map((key) => key.slice(prefix.length));
  const { rows } = await pool.query<{ family_id: string; user_id: string }>(
    'SELECT DISTINCT family_id::text, user_id::text FROM sessions WHERE family_id::text = ANY($1)',
    [families],
  );
  const userOf = new Map(rows.map((row) => [row.family_id, row.user_id]));
  let moved = 0;
  for (const family of families) {
    const oldKey = prefix + family;
    const userId = userOf.get(family);
    const leftMs = await engine.redis.pttl(oldKey);
    if (userId !== undefined && leftMs > 0) {
      await engine.redis.set(engine.keys.revokedKey(userId, family), '1', 'PX', leftMs);
      moved += 1;
    }
    await engine.redis.del(oldKey);
  }
  return moved;
}
