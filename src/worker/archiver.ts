import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from '../observability/logger.js';
import type { ShardKeys } from '../queue/keys.js';
import type { RedisClient } from '../redis/connect.js';
import { archivedRecords } from '../queue/records.js';
import { PeriodicService } from './service.js';

const GROUP = 'archivers';
/** Entries a crashed archiver left unacknowledged are taken over after this long. */
const ABANDONED_AFTER_MS = 60_000;
const IDLE_POLL_MS = 200;
/** Most final records the scripts put in one stream entry (ARCHIVE_ENTRY_RECORDS in finish.lua). */
const RECORDS_PER_ENTRY = 32;

type StreamEntry = [id: string, fields: string[]];

/**
 * PostgreSQL parses the records itself: the worker only joins the stream entries' JSON texts into
 * one array, which costs it almost nothing (parsing and re-encoding them in Node cost more than
 * the rest of the archiving). One row per request: a request finished twice in one batch (a dead
 * letter retried by an admin) keeps its latest state, since one INSERT cannot update a row twice.
 */
const ARCHIVE_SQL = `
  INSERT INTO requests (id, client_id, type, status, payload, result, error, attempts, max_attempts, history,
                        enqueued_at, started_at, finished_at)
  SELECT DISTINCT ON (r.id)
         r.id, r.c, r.t, r.st, r.p::json, r.r::json, r.er, r.a, r.m, r.h,
         to_timestamp(r.e / 1000.0), to_timestamp(r.s / 1000.0), to_timestamp(r.f / 1000.0)
  FROM json_to_recordset($1::json)
       AS r(id uuid, c text, t text, st text, p text, r text, er json, a int, m int, h json, e float8, s float8, f float8)
  ORDER BY r.id, r.f DESC
  ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, result = EXCLUDED.result, error = EXCLUDED.error, attempts = EXCLUDED.attempts,
    history = EXCLUDED.history, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    archived_at = now()
  WHERE requests.finished_at <= EXCLUDED.finished_at`;

/**
 * Moves final records from the shards' Redis streams into PostgreSQL, in batches. An entry is
 * acknowledged and deleted only after its row is committed, so a PostgreSQL outage only delays
 * the archive: entries wait in Redis and are written once PostgreSQL answers again. Writing a row
 * twice is harmless (upsert), so a crash between commit and acknowledgement loses nothing.
 */
export class Archiver extends PeriodicService {
  private readonly consumer = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly groupsReady = new Set<number>();
  private lastTakeover = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly pool: pg.Pool,
    private readonly shards: ShardKeys[],
    log: Logger,
    private readonly batchSize: number,
    private readonly onArchived: (rows: number) => void = () => undefined,
  ) {
    super('archiver', log, 10_000);
  }

  /** Archives one batch per shard; asks to run again at once while any shard had a full batch. */
  async runOnce(): Promise<number> {
    const counts = await Promise.all(this.shards.map((shard) => this.archiveShard(shard)));
    if (Date.now() - this.lastTakeover > ABANDONED_AFTER_MS / 2) {
      this.lastTakeover = Date.now();
      await Promise.all(this.shards.map((shard) => this.takeOverAbandoned(shard)));
    }
    return counts.some((count) => count >= this.entriesPerBatch) ? 0 : IDLE_POLL_MS;
  }

  /** Entries waiting in all shards' streams: the archive's lag, in stream entries (1 to RECORDS_PER_ENTRY records each). */
  async backlog(): Promise<number> {
    const lengths = await Promise.all(this.shards.map((shard) => this.redis.xlen(shard.archive)));
    return lengths.reduce((sum, length) => sum + length, 0);
  }

  private async ensureGroup(shard: ShardKeys): Promise<void> {
    if (this.groupsReady.has(shard.index)) return;
    try {
      await this.redis.xgroup('CREATE', shard.archive, GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
    this.groupsReady.add(shard.index);
  }

  /** Stream entries read per batch: an entry carries 1 to RECORDS_PER_ENTRY records. */
  private get entriesPerBatch(): number {
    return Math.max(1, Math.ceil(this.batchSize / RECORDS_PER_ENTRY));
  }

  /** Archives one batch of the shard's stream; returns how many entries it took (full batch: more wait). */
  private async archiveShard(shard: ShardKeys): Promise<number> {
    await this.ensureGroup(shard);
    // Our own unacknowledged entries first (a failed write), then new ones.
    let entries = await this.read(shard, '0');
    if (entries.length === 0) entries = await this.read(shard, '>');
    if (entries.length === 0) return 0;
    const rows = await this.write(entries);
    const ids = entries.map(([id]) => id);
    // Acknowledged and deleted together: a worker dying between the two would leave entries
    // that no archiver reads again and that the backlog counts for ever.
    await this.redis.multi().xack(shard.archive, GROUP, ...ids).xdel(shard.archive, ...ids).exec();
    this.onArchived(rows);
    return entries.length;
  }

  private async read(shard: ShardKeys, from: '0' | '>'): Promise<StreamEntry[]> {
    const reply = (await this.redis.xreadgroup(
      'GROUP', GROUP, this.consumer, 'COUNT', this.entriesPerBatch, 'STREAMS', shard.archive, from,
    )) as [string, StreamEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async takeOverAbandoned(shard: ShardKeys): Promise<void> {
    await this.ensureGroup(shard);
    await this.redis.xautoclaim(shard.archive, GROUP, this.consumer, ABANDONED_AFTER_MS, '0', 'COUNT', this.batchSize);
  }

  /** Writes the entries' records in one INSERT; returns how many records they held. */
  private async write(entries: StreamEntry[]): Promise<number> {
    const records: string[] = [];
    for (const [, fields] of entries) records.push(...archivedRecords(fields));
    if (records.length > 0) {
      await this.pool.query({ name: 'requests.archive', text: ARCHIVE_SQL, values: [`[${records.join(',')}]`] });
    }
    return records.length;
  }
}
