/**
 * Queue-wide gauges, read from the per-shard structures Redis already keeps up to date, never
 * from a scan over clients: per shard one pipeline of O(1) commands (HLEN, ZCARD, HGET,
 * XLEN, the oldest archive entry and Redis's clock), whatever the number of clients or requests.
 * The reading is shared by all gauges of one scrape and cached briefly, so concurrent scrapes
 * (two Prometheus servers, a curl) cost one reading.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ShardKeys } from '../queue/keys.js';
import type { RedisClient } from '../redis/connect.js';

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

const CACHE_MS = 1_000;

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
const JOBS = 1;
const LEASES = 2;
const DELAYED = 3;
const STATS = 5;
const HEADS = 7;

async function readShard(redis: RedisClient, shard: ShardKeys): Promise<ShardReading> {
  const key = (index: number) => shard.keys[index] as string;
  // Every key of a shard shares its hash tag: one pipeline goes to one Cluster node.
  const replies = await redis
    .pipeline()
    .hlen(key(JOBS))
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
    number, number, number, number, string | null, number, [string, string[]][], [string, string],
  ];
  // A stream entry id starts with the Redis time (ms) it was added at.
  const oldestId = oldest[0]?.[0];
  return {
    unfinished: backlog + heads,
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

/** Reads the queue snapshot at most once per CACHE_MS, sharing a reading in flight. */
export class QueueSnapshotReader {
  private cached: { at: number; value: Promise<QueueSnapshot> } | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly shards: readonly ShardKeys[],
  ) {}

  read(): Promise<QueueSnapshot> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.value;
    const value = Promise.all(this.shards.map((shard) => readShard(this.redis, shard))).then(combine);
    this.cached = { at: now, value };
    // A failed reading is not kept: the next scrape tries again.
    value.catch(() => {
      if (this.cached?.value === value) this.cached = undefined;
    });
    return value;
  }
}

const GAUGES: { name: string; help: string; pick: (snapshot: QueueSnapshot) => number }[] = [
  { name: 'laneq_requests_pending', help: 'Requests queued and not running, including those waiting for a retry (all clients).', pick: (s) => s.pending },
  { name: 'laneq_requests_running', help: 'Requests running under a lease (all workers).', pick: (s) => s.running },
  { name: 'laneq_requests_waiting_retry', help: 'Requests waiting for their retry backoff to pass.', pick: (s) => s.waitingRetry },
  { name: 'laneq_requests_dead_lettered', help: 'Requests failed after their last attempt and not retried since.', pick: (s) => s.deadLettered },
  { name: 'laneq_clients_with_work', help: 'Clients with at least one unfinished request.', pick: (s) => s.clientsWithWork },
  { name: 'laneq_archive_backlog_records', help: 'Final records waiting in Redis to be archived in PostgreSQL.', pick: (s) => s.archiveBacklog },
  { name: 'laneq_archive_oldest_age_seconds', help: 'Age of the oldest record waiting to be archived (0 when none waits).', pick: (s) => s.archiveOldestAgeSeconds },
];

/**
 * Registers the queue gauges. Every process exposes the same queue-wide figures: aggregate them
 * with max(), not sum(). When Redis cannot be read the gauges keep their last values and
 * laneq_queue_stats_up drops to 0, so a scrape never fails for it.
 */
export function registerQueueGauges(registry: Registry, reader: QueueSnapshotReader, onError: (error: unknown) => void): void {
  let latest: QueueSnapshot | undefined;
  let up = 0;
  const refresh = async () => {
    try {
      latest = await reader.read();
      up = 1;
    } catch (error) {
      up = 0;
      onError(error);
    }
  };
  for (const { name, help, pick } of GAUGES) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        await refresh();
        if (latest) this.set(pick(latest));
      },
    });
  }
  new Gauge({
    name: 'laneq_queue_stats_up',
    help: 'Whether the last reading of the queue gauges from Redis succeeded (1) or not (0).',
    registers: [registry],
    async collect() {
      await refresh();
      this.set(up);
    },
  });
}
