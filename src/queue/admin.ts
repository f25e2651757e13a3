import { Cluster, type Redis } from 'ioredis';
import type { QueueEngine } from './engine.js';
import { archivedRecords, decodeRecord, type RequestRecord, type StoredRecord } from './records.js';
import { readQueueSnapshot } from './snapshot.js';

export interface QueueTotals {
  /** queued requests, including those waiting for a retry */
  pending: number;
  running: number;
  waitingRetry: number;
  /** requests that ended failed after their last attempt and were not retried since */
  deadLettered: number;
  clientsWithWork: number;
}

export interface QueueOverview {
  totals: QueueTotals;
  /** the clients with the most pending requests, deepest first */
  deepestQueues: { clientId: string; pending: number }[];
  /** false when the key scan stopped at its bound: queue figures then cover only part of the clients */
  complete: boolean;
}

/** Most client queues looked at by one overview; beyond it the figures are partial (and say so). */
export const OVERVIEW_MAX_QUEUES = 100_000;
const LLEN_BATCH = 1_000;
/** Newest entries read from each shard's archive stream when listing dead letters (each holds a whole record). */
const STREAM_PEEK = 100;

/** Each node that holds keys: the one server, or every master of a Cluster. */
function nodesOf(redis: QueueEngine['redis']): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/** Keys matching `pattern` (SCAN, never KEYS), at most `max` of them; `complete` says whether all were seen. */
export async function scanKeys(redis: QueueEngine['redis'], pattern: string, max: number): Promise<{ keys: string[]; complete: boolean }> {
  const keys: string[] = [];
  for (const node of nodesOf(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      keys.push(...found);
      if (keys.length >= max) return { keys: keys.slice(0, max), complete: false };
    } while (cursor !== '0');
  }
  return { keys, complete: true };
}

/**
 * Operator views over all shards. The totals are exact and cheap (src/queue/snapshot.ts, the same
 * reading as the metrics gauges: per shard, the heads hash has one field per client with work and
 * the stats hash counts the requests behind heads). The ranking of the
 * deepest queues comes from SCAN over the backlog keys (`q:*`, which only clients with two or more
 * unfinished requests have) with LLEN: an admin page may cost a pass over the key space, bounded
 * by OVERVIEW_MAX_QUEUES, and a script could not SCAN a Cluster's nodes anyway; it is exact only
 * when `complete`. Each figure is read at a slightly different moment: a snapshot, not a ledger.
 */
export class QueueAdmin {
  constructor(private readonly engine: QueueEngine) {}

  async overview(top: number): Promise<QueueOverview> {
    const { pending, running, waitingRetry, deadLettered, clientsWithWork } = await readQueueSnapshot(
      this.engine.redis,
      this.engine.keys.shards,
    );
    const { keys, complete } = await scanKeys(this.engine.redis, `${this.engine.keys.prefix}:{s*}:q:*`, OVERVIEW_MAX_QUEUES);
    const lengths = await this.lengths(keys);
    // A backlog holds two elements per request, and its client also has a head.
    const queues = keys.map((key, index) => ({ clientId: key.slice(key.indexOf('}:q:') + 4), length: (lengths[index] ?? 0) / 2 + 1 }));
    return {
      totals: { pending, running, waitingRetry, deadLettered, clientsWithWork },
      deepestQueues: await this.deepest(await this.withSingleRequestClients(queues, top), top),
      complete,
    };
  }

  /**
   * Dead letters not yet archived: failed records still waiting in the shards' archive streams
   * (the newest STREAM_PEEK of each), below `before`, newest first. During a long PostgreSQL
   * outage older ones show up only once archived.
   */
  async unarchivedDeadLetters(before: string, limit: number): Promise<RequestRecord[]> {
    const found = new Map<string, RequestRecord>();
    for (const { id, stored, json } of await this.unarchivedFinals()) {
      if (stored.st !== 'failed' || (before !== '' && id >= before) || found.has(id)) continue;
      found.set(id, decodeRecord(id, json, 'failed'));
    }
    return [...found.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, limit);
  }

  /** The client of a request that ended recently and is still on its way to the archive. */
  async unarchivedClientOf(id: string): Promise<string | undefined> {
    return (await this.unarchivedFinals()).find((final) => final.id === id)?.stored.c;
  }

  /** The final records of the newest archive stream entries of every shard, newest first. */
  private async unarchivedFinals(): Promise<{ id: string; stored: StoredRecord; json: string }[]> {
    const perShard = await Promise.all(
      this.engine.keys.shards.map((shard) => this.engine.redis.xrevrange(shard.archive, '+', '-', 'COUNT', STREAM_PEEK)),
    );
    return perShard.flat().flatMap(([, fields]) =>
      archivedRecords(fields).map((json) => {
        const stored = JSON.parse(json) as StoredRecord;
        return { id: stored.id ?? '', stored, json };
      }),
    );
  }

  private async lengths(keys: string[]): Promise<number[]> {
    const lengths: number[] = [];
    for (let start = 0; start < keys.length; start += LLEN_BATCH) {
      const batch = keys.slice(start, start + LLEN_BATCH);
      lengths.push(...(await Promise.all(batch.map((key) => this.engine.redis.llen(key)))));
    }
    return lengths;
  }

  /**
   * When fewer than `top` clients have a backlog, the ranking is filled with clients that have a
   * single request (a head and no backlog key), found with one HSCAN page per shard.
   */
  private async withSingleRequestClients(
    queues: { clientId: string; length: number }[],
    top: number,
  ): Promise<{ clientId: string; length: number }[]> {
    if (queues.length >= top) return queues;
    const listed = new Set(queues.map((queue) => queue.clientId));
    const filled = [...queues];
    for (const shard of this.engine.keys.shards) {
      const [, fields] = await this.engine.redis.hscan(`${shard.base}heads`, '0', 'COUNT', top);
      for (let i = 0; i < fields.length && filled.length < top; i += 2) {
        const clientId = fields[i] as string;
        if (!listed.has(clientId)) filled.push({ clientId, length: 1 });
      }
      if (filled.length >= top) break;
    }
    return filled;
  }

  /** The `top` longest queues, by pending requests (the running head does not count). */
  private async deepest(queues: { clientId: string; length: number }[], top: number): Promise<QueueOverview['deepestQueues']> {
    const longest = [...queues].sort((a, b) => b.length - a.length).slice(0, top);
    const stats = await Promise.all(longest.map((queue) => this.engine.stats(queue.clientId)));
    return longest
      .map((queue, index) => ({ clientId: queue.clientId, pending: stats[index]?.pending ?? 0 }))
      .sort((a, b) => b.pending - a.pending);
  }
}
