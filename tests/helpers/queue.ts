/**
 * Shared pieces of the queue engine tests: handlers that record what they saw, a gate that holds
 * handlers until the test lets them go, key inspection by SCAN, archive reads, and spawning real
 * worker processes.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config.js';
import type { Pool } from '../../src/db/pool.js';
import { scanKeys } from '../../src/queue/admin.js';
import type { NewRequest, QueueEngine } from '../../src/queue/engine.js';
import type { RequestRecord, RequestStatus } from '../../src/queue/records.js';
import type { RedisClient } from '../../src/redis/connect.js';
import type { HandlerContext, HandlerDefinition } from '../../src/worker/handlers/types.js';
import { finished, spawnScript, type Finished } from './process.js';

/** A request with test defaults: 3 attempts, a 10 s timeout. */
export function req(type: string, payload: unknown = null, options: Partial<NewRequest> = {}): NewRequest {
  return { type, payload, maxAttempts: 3, timeoutMs: 10_000, ...options };
}

/** A client id no other test (or test run) uses. */
export function clientId(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/** `count` fresh client ids that all live in shard `shard` of the engine's key space. */
export function clientsInShard(engine: QueueEngine, shard: number, label: string, count = 1): string[] {
  if (shard >= engine.keys.shards.length) throw new Error(`shard ${shard} does not exist: the engine has ${engine.keys.shards.length}`);
  const found: string[] = [];
  while (found.length < count) {
    const candidate = clientId(label);
    if (engine.keys.forClient(candidate).index === shard) found.push(candidate);
  }
  return found;
}

export interface StartEvent {
  clientId: string;
  id: string;
  attempt: number;
  payload: unknown;
  /** which handler map saw it (a test may run several workers) */
  worker: string;
}

/** Records every handler start in one list, in the order the handlers were called. */
export class StartLog {
  readonly events: StartEvent[] = [];

  record(worker: string, payload: unknown, context: HandlerContext): void {
    this.events.push({ clientId: context.clientId, id: context.requestId, attempt: context.attempt, payload, worker });
  }

  ofClient(client: string): StartEvent[] {
    return this.events.filter((event) => event.clientId === client);
  }

  ofRequest(id: string): StartEvent[] {
    return this.events.filter((event) => event.id === id);
  }
}

/** Lets handlers wait until the test opens the gate named by their payload's `gate` field. */
export class Gates {
  private readonly opened = new Set<string>();
  private readonly waiters = new Map<string, (() => void)[]>();

  open(name: string): void {
    this.opened.add(name);
    for (const wake of this.waiters.get(name) ?? []) wake();
    this.waiters.delete(name);
  }

  wait(name: string, signal: AbortSignal): Promise<void> {
    if (this.opened.has(name)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const list = this.waiters.get(name) ?? [];
      list.push(resolve);
      this.waiters.set(name, list);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
}

/** A handler accepting any payload. */
export function handler(run: HandlerDefinition['run']): HandlerDefinition {
  return { schema: {}, run };
}

/** Resolves when `signal` aborts, with its reason; the handler then rejects with it. */
export function untilAborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/** Every key of the fixture's prefix that names `client` (SCAN, never KEYS). */
export async function keysOfClient(redis: RedisClient, keyPrefix: string, client: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await (redis as Redis).scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys.filter((key) => key.includes(client)));
  } while (cursor !== '0');
  return found.sort();
}

/** The name of a per-client (or per-request) key without prefix and shard: `fin`, `out`, `done`, ... */
export function keyKind(key: string): string {
  const afterShard = key.slice(key.indexOf('}:') + 2);
  return afterShard.slice(0, afterShard.indexOf(':'));
}

/** Reads every request of a list; fails the test when one is missing from Redis. */
export async function records(engine: QueueEngine, client: string, ids: string[]): Promise<RequestRecord[]> {
  return Promise.all(
    ids.map(async (id) => {
      const record = await engine.get(client, id);
      if (!record) throw new Error(`request ${id} of ${client} is not in Redis`);
      return record;
    }),
  );
}

/** True when every listed request reached one of `statuses`. */
export async function allIn(engine: QueueEngine, client: string, ids: string[], statuses: RequestStatus[]): Promise<boolean> {
  for (const id of ids) {
    const record = await engine.get(client, id);
    if (!record || !statuses.includes(record.status)) return false;
  }
  return true;
}

export interface ArchivedRow {
  id: string;
  client_id: string;
  type: string;
  status: string;
  attempts: number;
  max_attempts: number;
  error: { message: string; code?: string } | null;
  history: { a: number; s: number; f: number; er: { message: string; code?: string } }[] | null;
  result: unknown;
  payload: unknown;
  started_ms: number | null;
  finished_ms: number;
  enqueued_ms: number;
}

/** Archived rows (times as epoch milliseconds), optionally only those of the given ids. */
export async function archivedRows(pool: Pool, ids?: string[]): Promise<ArchivedRow[]> {
  const { rows } = await pool.query<ArchivedRow>(
    `SELECT id, client_id, type, status, attempts, max_attempts, error, history, result, payload,
            round(extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
            round(extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms,
            round(extract(epoch FROM enqueued_at) * 1000)::float8 AS enqueued_ms
     FROM requests ${ids ? 'WHERE id = ANY($1::uuid[])' : ''}`,
    ids ? [ids] : [],
  );
  return rows;
}

export async function archivedCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM requests');
  return Number(rows[0]?.count);
}

/** An archived row in the shape checkOrder reads. */
export function rowAsRecord(row: ArchivedRow): RequestRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    type: row.type,
    status: row.status as RequestStatus,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: 0,
    payload: row.payload,
    enqueuedAt: row.enqueued_ms,
    ...(row.started_ms === null ? {} : { startedAt: row.started_ms }),
    finishedAt: row.finished_ms,
    history: [],
  };
}

export interface WorkerChild {
  child: ChildProcessWithoutNullStreams;
  exited: Promise<Finished>;
  /** what it printed so far (stdout and stderr), for failure messages */
  output(): string;
  /** throws (with its output) when the process has exited: for checks polled while it should run */
  assertRunning(): void;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs` */
  stop(graceMs?: number): Promise<Finished>;
}

/**
 * A real worker process: `node --import tsx src/main.ts` with ROLE=worker on the fixture's Redis,
 * key prefix and database. `env` adds or overrides settings (LEASE_MS, WORKER_CONCURRENCY, ...).
 */
export function spawnWorker(config: Config, env: Record<string, string> = {}): WorkerChild {
  const child = spawnScript('src/main.ts', [], {
    NODE_ENV: 'test',
    ROLE: 'worker',
    LOG_LEVEL: 'warn',
    REDIS_URL: config.REDIS_URL,
    REDIS_CLUSTER_NODES: config.REDIS_CLUSTER_NODES,
    DATABASE_URL: config.DATABASE_URL,
    KEY_PREFIX: config.KEY_PREFIX,
    QUEUE_SHARDS: String(config.QUEUE_SHARDS),
    JWT_SECRET: config.JWT_SECRET,
    LEASE_MS: String(config.LEASE_MS),
    HEARTBEAT_MS: String(config.HEARTBEAT_MS),
    ...env,
  });
  const exited = finished(child);
  let printed = '';
  child.stdout.on('data', (chunk: Buffer | string) => (printed += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer | string) => (printed += chunk.toString()));
  return {
    child,
    exited,
    output: () => printed,
    assertRunning() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`worker process ${child.pid} exited (${child.exitCode ?? child.signalCode}):\n${printed}`);
      }
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
}

/**
 * The shard's backlog count (`stats` field `backlog`, which the gauges read) against the requests
 * its backlogs hold (two list elements each), for the shard of `client`; a script that changed a
 * backlog without writing its count shows here.
 */
export async function backlogCountOfShard(engine: QueueEngine, client: string): Promise<{ counted: number; held: number }> {
  const shard = engine.keys.forClient(client);
  const counted = Number((await engine.redis.hget(`${shard.base}stats`, 'backlog')) ?? 0);
  const { keys } = await scanKeys(engine.redis, `${shard.base}q:*`, Number.POSITIVE_INFINITY);
  let held = 0;
  for (const key of keys) held += (await engine.redis.llen(key)) / 2;
  return { counted, held };
}

/** The ids in a client's backlog, oldest first (the list alternates ids and records). */
export async function backlogIds(engine: QueueEngine, client: string): Promise<string[]> {
  const { base } = engine.keys.forClient(client);
  return (await engine.redis.lrange(`${base}q:${client}`, 0, -1)).filter((_, index) => index % 2 === 0);
}
