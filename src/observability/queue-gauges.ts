/**
 * Queue-wide gauges, from the O(1) per-shard reading of src/queue/snapshot.ts. The reading is
 * shared by all gauges of one scrape and cached briefly, so concurrent scrapes (two Prometheus
 * servers, a curl) cost one reading.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ShardKeys } from '../queue/keys.js';
import { readQueueSnapshot, type QueueSnapshot } from '../queue/snapshot.js';
import type { RedisClient } from '../redis/connect.js';

const CACHE_MS = 1_000;

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
    const value = readQueueSnapshot(this.redis, this.shards);
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
