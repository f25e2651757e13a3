import { AppError, rateLimited } from '../errors.js';
import type { RedisClient } from '../redis/connect.js';
import { KeySpace, type ShardKeys } from './keys.js';
import { compareEvents, type RequestEvent } from './live-events.js';
import { decodeRecord, type RequestRecord, type RequestStatus } from './records.js';
import { RedisClock } from './redis-clock.js';
import { newRequestId } from './request-ids.js';
import { Scripts } from './scripts.js';

export interface EngineSettings {
  keyPrefix: string;
  shards: number;
  maxQueueDepth: number;
  idempotencyTtlMs: number;
  retentionMs: number;
  retentionCount: number;
}

/** A request ready for the queue: its type and payload have already been validated. */
export interface NewRequest {
  type: string;
  payload: unknown;
  maxAttempts: number;
  timeoutMs: number;
  idempotencyKey?: string;
}

export interface Accepted {
  id: string;
  /** 'queued' for a new request; for an idempotent repeat, the original's status ('archived' once out of Redis) */
  status: RequestStatus | 'archived';
  /** the client's requests ahead of it, or -1 when it is not queued */
  position: number;
  /** set on a new request; absent on an idempotent repeat, which names an earlier one */
  created?: true;
}

export interface ClientStats {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  oldestPendingAgeMs: number;
}

export type CancelOutcome =
  | { outcome: 'cancelled'; record: RequestRecord }
  | { outcome: 'not_cancellable'; record: RequestRecord }
  | { outcome: 'not_found' };

export interface ListOptions {
  /** only ids below this one ('' = from the newest) */
  before: string;
  limit: number;
  status?: RequestStatus;
}

export type RequeueOutcome = { outcome: 'queued'; position: number } | { outcome: 'not_retryable' | 'not_found' };

/**
 * What an API call's enqueue checks of its caller in the same script call (one round trip): the
 * session it authenticated with is not logged out, and the client's calls this second stay
 * within `perSecond`.
 */
export interface CallerCheck {
  sessionFamily: string;
  perSecond: number;
}

/** Enough entries per script call to amortise the round trip, few enough to keep Redis responsive. */
const ENQUEUE_CHUNK = 1_000;

/**
 * How long after it is sent an enqueue call may still be applied (Redis time; enqueue.lua refuses
 * it later with nothing written). ioredis sends a call again after a reconnect: below enqueue.lua's
 * 30 s window, so a second send always finds the first's mark, with 10 s to spare for the error of
 * the clock estimate.
 */
const ENQUEUE_DEADLINE_MS = 20_000;

/**
 * The client-facing side of the queue: enqueue, read, cancel, dequeue results. The worker side
 * (claim, complete, heartbeat, recovery) is in worker-ops.ts. Every state change is one Lua
 * script call; nothing here reads, modifies and writes across round trips.
 */
export class QueueEngine {
  readonly keys: KeySpace;
  readonly scripts: Scripts;
  private readonly redisClock: RedisClock;

  constructor(
    readonly redis: RedisClient,
    readonly settings: EngineSettings,
  ) {
    this.keys = new KeySpace(settings.keyPrefix, settings.shards);
    this.scripts = new Scripts(redis, this.keys.wakeChannel);
    this.redisClock = new RedisClock(redis);
  }

  /**
   * Appends a client's requests to its queue in order, all or none. With `caller`, the call is
   * refused (AppError unauthorized or rate_limited, nothing written) when the caller's session is
   * logged out or its rate is used up.
   */
  async enqueue(clientId: string, requests: NewRequest[], caller?: CallerCheck): Promise<Accepted[]> {
    // One script call whatever the count: a client's requests are all in or all out.
    const entries = requests.map((request) => ({ clientId, request }));
    return this.enqueueChunk(this.keys.forClient(clientId), entries, caller && { clientId, ...caller });
  }

  /**
   * Enqueues requests of many clients (e.g. a bulk load), one script call per shard and chunk of
   * ENQUEUE_CHUNK. Order holds per client; all-or-none holds only per chunk, so a producer that
   * needs it for one client uses `enqueue`.
   */
  async enqueueMany(entries: { clientId: string; request: NewRequest }[]): Promise<Accepted[]> {
    const byShard = new Map<ShardKeys, number[]>();
    entries.forEach((entry, index) => {
      const shard = this.keys.forClient(entry.clientId);
      const list = byShard.get(shard) ?? [];
      list.push(index);
      byShard.set(shard, list);
    });
    const results = new Array<Accepted>(entries.length);
    const calls: Promise<void>[] = [];
    for (const [shard, indexes] of byShard) {
      for (let start = 0; start < indexes.length; start += ENQUEUE_CHUNK) {
        const chunk = indexes.slice(start, start + ENQUEUE_CHUNK);
        calls.push(
          this.enqueueChunk(
            shard,
            chunk.map((index) => entries[index] as { clientId: string; request: NewRequest }),
          ).then((accepted) => chunk.forEach((index, n) => (results[index] = accepted[n] as Accepted))),
        );
      }
    }
    await Promise.all(calls);
    return results;
  }

  private async enqueueChunk(
    shard: ShardKeys,
    entries: { clientId: string; request: NewRequest }[],
    caller?: CallerCheck & { clientId: string },
  ): Promise<Accepted[]> {
    const args: (string | number)[] = [
      this.settings.maxQueueDepth,
      this.settings.idempotencyTtlMs,
      caller?.clientId ?? '',
      caller?.sessionFamily ?? '',
      caller?.perSecond ?? 0,
      (await this.redisClock.now()) + ENQUEUE_DEADLINE_MS,
    ];
    const ids: string[] = [];
    for (const { clientId, request } of entries) {
      const id = newRequestId();
      ids.push(id);
      args.push(
        clientId,
        id,
        request.type,
        JSON.stringify(request.payload ?? null),
        request.maxAttempts,
        request.timeoutMs,
        request.idempotencyKey ?? '',
      );
    }
    try {
      const reply = (await this.scripts.run('enqueue', shard, args)) as [string, Accepted['status'], number][];
      // An idempotent repeat answers the earlier request's id instead of the one made here.
      return reply.map(([id, status, position], n) => (id === ids[n] ? { id, status, position, created: true } : { id, status, position }));
    } catch (error) {
      throw this.enqueueRefusal(error);
    }
  }

  /** The typed error for an enqueue script's refusal (see enqueue.lua), or the error itself. */
  private enqueueRefusal(error: unknown): unknown {
    if (!(error instanceof Error)) return error;
    if (error.message.includes('QUEUE_FULL')) {
      return new AppError('queue_full', `The queue already holds ${this.settings.maxQueueDepth} pending requests.`);
    }
    if (error.message.includes('LATE_CALL')) {
      return new AppError('service_unavailable', 'Redis answered the enqueue call too late to accept it; nothing was queued.');
    }
    if (error.message.includes('REVOKED')) return new AppError('unauthorized', 'The session was logged out.');
    const limited = /RATE_LIMITED (-?\d+)/.exec(error.message);
    if (limited) return rateLimited(Number(limited[1]));
    return error;
  }

  /** A client's request as Redis holds it, or undefined (unknown, another client's, or archived). */
  async get(clientId: string, id: string): Promise<RequestRecord | undefined> {
    const reply = (await this.scripts.run('get_request', this.keys.forClient(clientId), [clientId, id])) as
      | [RequestStatus, string, number]
      | null;
    if (!reply) return undefined;
    return decodeRecord(id, reply[1], reply[0], reply[2], clientId);
  }

  async cancel(clientId: string, id: string): Promise<CancelOutcome> {
    const { retentionMs, retentionCount } = this.settings;
    const [outcome, json] = (await this.scripts.run('cancel', this.keys.forClient(clientId), [
      clientId,
      id,
      retentionMs,
      retentionCount,
    ])) as ['cancelled' | 'not_cancellable' | 'not_found', string | null];
    if (outcome === 'not_found' || json === null) return { outcome: 'not_found' };
    const stored = JSON.parse(json) as { st?: RequestStatus; a?: number };
    const status: RequestStatus = stored.st ?? ((stored.a ?? 0) > 0 ? 'running' : 'queued');
    return { outcome, record: decodeRecord(id, json, outcome === 'cancelled' ? 'cancelled' : status, undefined, clientId) };
  }

  /**
   * Takes the oldest finished request off the client's outbox. `record` is undefined when it has
   * already left Redis retention; the caller reads it from the archive by id.
   */
  async dequeue(clientId: string): Promise<{ id: string; record?: RequestRecord } | undefined> {
    const reply = (await this.scripts.run('dequeue_result', this.keys.forClient(clientId), [clientId])) as
      | [string, string | null]
      | null;
    if (!reply) return undefined;
    const [id, json] = reply;
    if (json === null) return { id };
    const status = (JSON.parse(json) as { st: RequestStatus }).st;
    return { id, record: decodeRecord(id, json, status) };
  }

  async stats(clientId: string): Promise<ClientStats> {
    const [pending, running, succeeded, failed, cancelled, oldest, now] = (await this.scripts.run(
      'client_stats',
      this.keys.forClient(clientId),
      [clientId],
    )) as number[];
    return {
      pending: pending ?? 0,
      running: running ?? 0,
      succeeded: succeeded ?? 0,
      failed: failed ?? 0,
      cancelled: cancelled ?? 0,
      oldestPendingAgeMs: oldest === undefined || oldest < 0 ? 0 : Math.max(0, (now ?? 0) - oldest),
    };
  }

  /**
   * The client's request state changes after `sinceMs` (Redis clock) that Redis can still rebuild
   * from its records, oldest first: how an event stream resumes after a reconnect.
   */
  async eventsSince(clientId: string, sinceMs: number, limit = 1_000): Promise<RequestEvent[]> {
    const flat = (await this.scripts.run('client_events_since', this.keys.forClient(clientId), [
      clientId,
      sinceMs,
      limit,
    ])) as (string | number)[];
    const events: RequestEvent[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      events.push({
        clientId,
        id: String(flat[i]),
        status: flat[i + 1] as RequestStatus,
        attempt: Number(flat[i + 2]),
        at: Number(flat[i + 3]),
      });
    }
    return events.sort(compareEvents);
  }

  /**
   * A page of the client's requests as Redis holds them, read atomically: its unfinished ones and
   * its finished ones still in retention, up to `limit` of each with an id below `before` (and the
   * given status), largest id first within each kind. Older finished ones are in the archive.
   */
  async list(clientId: string, options: ListOptions): Promise<RequestRecord[]> {
    const reply = (await this.scripts.run('list_client_requests', this.keys.forClient(clientId), [
      clientId,
      options.before,
      options.limit,
      options.status ?? '',
    ])) as [string, RequestStatus, string, number][][];
    return reply.flat().map(([id, status, json, position]) => decodeRecord(id, json, status, position, clientId));
  }

  /**
   * Queues a dead letter again at the tail of its client's queue. `finalJson` is its final record
   * as finish() stores it, from the archive when Redis no longer holds it (Redis's copy wins).
   */
  async requeueDeadLetter(clientId: string, id: string, finalJson: string): Promise<RequeueOutcome> {
    try {
      const [outcome, position] = (await this.scripts.run('requeue_dead_letter', this.keys.forClient(clientId), [
        clientId,
        id,
        finalJson,
        this.settings.maxQueueDepth,
      ])) as [RequeueOutcome['outcome'], number];
      return outcome === 'queued' ? { outcome, position } : { outcome };
    } catch (error) {
      if (error instanceof Error && error.message.includes('QUEUE_FULL')) {
        throw new AppError('queue_full', `The queue already holds ${this.settings.maxQueueDepth} pending requests.`);
      }
      throw error;
    }
  }

  /** A client's final record while still in Redis retention (for administrators). */
  async findFinal(clientId: string, id: string): Promise<{ record: RequestRecord; json: string } | undefined> {
    const { base } = this.keys.forClient(clientId);
    const json = (await this.redis.hget(`${base}res:${clientId}`, id)) ?? (await this.redis.get(`${base}done:${id}`));
    if (json === null) return undefined;
    const status = (JSON.parse(json) as { st: RequestStatus }).st;
    return { record: decodeRecord(id, json, status), json };
  }

  /** The client logged out: its queue is removed once drained (at once when already empty). */
  async markClientGone(clientId: string): Promise<boolean> {
    const removed = await this.scripts.run('mark_client_gone', this.keys.forClient(clientId), [
      clientId,
      this.settings.retentionMs,
    ]);
    return removed === 1;
  }
}
