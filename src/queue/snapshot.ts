/**
 * Queue-wide figures read from the per-shard structures Redis already keeps up to date, never from
 * a scan over clients: per shard one pipeline of O(1) commands (HLEN, ZCARD, HGET, XLEN, the
 * oldest archive entry and Redis's clock), whatever the number of clients or requests. Read by
 * the metrics gauges and by the admin overview.
 */
import type { RedisClient } from '../redis/connect.js';
import type { KeySpace, ShardKeys } from './keys.js';

export interface QueueSnapshot {
  /** queued requests not running, including those waiting for a retry (as GET /api/admin/queues counts them) */
  pending: number;
  running: number;
  waitingRetry: number;
  deadLettered: number;
  clientsWithWork: number;
  archiveBacklog: number;
  /** age of the oldest record waiting to be archived, in seconds (0 when none waits) */
  archiveOldestAgeSeconds: number;
}

interface ShardReading {
  /** unfinished requests: clients' heads plus their backlogs */
  unfinished: number;
  /** clients with unfinished requests (one head each) */
  heads: number;
  running: number;
  delayed: number;
  failed: number;
  archived: number;
  oldestArchiveMs: number | undefined;
  nowMs: number;
}

/** Shard key names, by their position in ShardKeys.keys (see keys.ts SHARD_KEY_NAMES). */
const LEASES = 2;
const DELAYED = 3;
const STATS = 5;
const HEADS = 7;

async function readShard(redis: RedisClient, shard: ShardKeys): Promise<ShardReading> {
  const key = (index: number) => shard.keys[index] as string;
  // Every key of a shard shares its hash tag: one pipeline goes to one Cluster node.
  const replies = await redis
    .pipeline()
    .hget(key(STATS), 'backlog')
    .hlen(key(HEADS))
    .zcard(key(LEASES))
    .zcard(key(DELAYED))
    .hget(key(STATS), 'failed')
    .xlen(shard.archive)
    .xrange(shard.archive, '-', '+', 'COUNT', 1)
    .time()
    .exec();
  if (!replies) throw new Error('Redis pipeline was discarded');
  const values = replies.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const [backlog, heads, running, delayed, failed, archived, oldest, time] = values as [
    string | null, number, number, number, string | null, number, [string, string[]][], [string, string],
  ];
  // A stream entry id starts with the Redis time (ms) it was added at.
  const oldestId = oldest[0]?.[0];
  return {
    unfinished: Number(backlog ?? 0) + heads,
    heads,
    running,
    delayed,
    failed: Number(failed ?? 0),
    archived,
    oldestArchiveMs: oldestId === undefined ? undefined : Number(oldestId.split('-')[0]),
    nowMs: Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000),
  };
}

function combine(readings: ShardReading[]): QueueSnapshot {
  const snapshot: QueueSnapshot = {
    pending: 0,
    running: 0,
    waitingRetry: 0,
    deadLettered: 0,
    clientsWithWork: 0,
    archiveBacklog: 0,
    archiveOldestAgeSeconds: 0,
  };
  for (const reading of readings) {
    snapshot.pending += Math.max(0, reading.unfinished - reading.running);
    snapshot.running += reading.running;
    snapshot.waitingRetry += reading.delayed;
    snapshot.deadLettered += reading.failed;
    snapshot.clientsWithWork += reading.heads;
    snapshot.archiveBacklog += reading.archived;
    if (reading.oldestArchiveMs !== undefined) {
      const age = Math.max(0, reading.nowMs - reading.oldestArchiveMs) / 1000;
      snapshot.archiveOldestAgeSeconds = Math.max(snapshot.archiveOldestAgeSeconds, age);
    }
  }
  return snapshot;
}

export async function readQueueSnapshot(redis: RedisClient, shards: readonly ShardKeys[]): Promise<QueueSnapshot> {
  return combine(await Promise.all(shards.map((shard) => readShard(redis, shard))));
}

/**
 * Requests not finished yet (queued, running, waiting for a retry) over every shard: each client's
 * head plus its backlog. For tools and benchmarks; O(shards) commands.
 */
export async function countUnfinished(
  redis: { hlen(key: string): Promise<number>; hget(key: string, field: string): Promise<string | null> },
  keys: KeySpace,
): Promise<number> {
  const lengths = await Promise.all(
    keys.shards.flatMap((shard) => [redis.hlen(`${shard.base}heads`), redis.hget(`${shard.base}stats`, 'backlog').then(Number)]),
  );
  return lengths.reduce((sum, n) => sum + n, 0);
}
