/**
 * The engine on a real Redis Cluster (three masters started for this file): the shards' hash tags
 * spread over several nodes, every script stays in one slot, workers wake over cluster pub/sub,
 * and per-client order, one-in-flight and nothing-lost hold as on a single Redis.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARD_KEY_NAMES, shardOf, type ShardKeys } from '../../src/queue/keys.js';
import type { RequestRecord } from '../../src/queue/records.js';
import { closeRedis, connectRedis } from '../../src/redis/connect.js';
import { assertNoEviction } from '../../src/redis/policy.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import type { HandlerDefinition, HandlerMap } from '../../src/worker/handlers/types.js';
import { checkOrder, engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';

const SHARDS = 6;
const CLIENTS = 60;
const PER_CLIENT = 20;
const builtins = builtinHandlers([]);

/** Fails its first attempt, succeeds on the next: retries go through the delayed set and back. */
const flaky: HandlerDefinition = {
  schema: {},
  run: (_payload, context) => {
    if (context.attempt === 1) throw new Error('the first attempt fails');
    return { attempt: context.attempt };
  },
};

// Tracked where the work happens: a handler ends before its completion is sent, and the client's
// next request can only be claimed after that completion, whichever worker runs it.
const inFlight = new Map<string, number>();
const overlaps: string[] = [];
/** per client, the request ids in the order their handlers started (one entry per attempt) */
const handlerOrder = new Map<string, string[]>();
const ranOn = [0, 0];

function tracked(worker: number): HandlerMap {
  const wrap = (inner: HandlerDefinition): HandlerDefinition => ({
    ...inner,
    run: async (payload, context) => {
      const now = (inFlight.get(context.clientId) ?? 0) + 1;
      inFlight.set(context.clientId, now);
      if (now > 1) overlaps.push(`${context.clientId}: ${context.requestId}`);
      handlerOrder.set(context.clientId, [...(handlerOrder.get(context.clientId) ?? []), context.requestId]);
      ranOn[worker] = (ranOn[worker] ?? 0) + 1;
      try {
        return await inner.run(payload, context);
      } finally {
        inFlight.set(context.clientId, (inFlight.get(context.clientId) ?? 1) - 1);
      }
    },
  });
  return { sleep: wrap(builtins.sleep as HandlerDefinition), noop: wrap(builtins.noop as HandlerDefinition), flaky: wrap(flaky) };
}

let cluster: RedisCluster | undefined;
let fixture: EngineFixture | undefined;

beforeAll(async () => {
  cluster = await startRedisCluster();
  fixture = await engineFixture({
    REDIS_CLUSTER_NODES: cluster.nodes,
    QUEUE_SHARDS: String(SHARDS),
    WORKER_CONCURRENCY: '16',
  });
});

afterAll(async () => {
  await fixture?.cleanup();
  await cluster?.stop();
});

function setup(): { fixture: EngineFixture; redis: Cluster } {
  if (!fixture || !(fixture.redis instanceof Cluster)) throw new Error('the fixture is not on the cluster');
  return { fixture, redis: fixture.redis };
}

/** Two in-process workers on the cluster, started once (the first tests need none running). */
async function ensureWorkers(): Promise<void> {
  const { fixture: f } = setup();
  while (f.workers.length < 2) await f.startWorker(tracked(f.workers.length));
}

function shardKey(shard: ShardKeys, name: (typeof SHARD_KEY_NAMES)[number]): string {
  return shard.keys[SHARD_KEY_NAMES.indexOf(name)] as string;
}

/** A client id that the engine puts in shard `index`. */
function clientInShard(index: number): string {
  for (let n = 0; ; n += 1) if (shardOf(`probe-${n}`, SHARDS) === index) return `probe-${n}`;
}

/** The master serving a key, as "host:port", from the cluster's own slot table. */
async function masterOf(redis: Cluster, key: string): Promise<string> {
  const slot = (await redis.call('CLUSTER', 'KEYSLOT', key)) as number;
  const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
  const range = ranges.find(([first, last]) => slot >= first && slot <= last);
  if (!range) throw new Error(`slot ${slot} is not served`);
  return `${range[2][0]}:${range[2][1]}`;
}

/** Client ids that fall in `count` different shards living on different masters, when possible. */
async function clientsOnDistinctMasters(redis: Cluster, count: number, prefix: string): Promise<string[]> {
  const { engine } = setup().fixture;
  const chosen = new Map<string, string>();
  for (let n = 0; chosen.size < count && n < 1_000; n += 1) {
    const client = `${prefix}-${n}`;
    const master = await masterOf(redis, engine.keys.forClient(client).keys[0] as string);
    if (!chosen.has(master)) chosen.set(master, client);
  }
  return [...chosen.values()];
}

describe('queue engine on a Redis Cluster', () => {
  it('keeps each shard in one slot and spreads the shards over several masters', async () => {
    const { fixture: f, redis } = setup();
    const masters = new Set<string>();
    for (const shard of f.engine.keys.shards) {
      const slots = new Set<number>();
      // Per-client keys are built inside the scripts from the shard's base: same hash tag, same slot.
      const perClient = f.engine.keys.clientKeys(clientInShard(shard.index));
      for (const key of [...shard.keys, ...perClient]) slots.add((await redis.call('CLUSTER', 'KEYSLOT', key)) as number);
      expect(slots.size).toBe(1);
      masters.add(await masterOf(redis, shard.keys[0] as string));
    }
    expect(masters.size).toBeGreaterThanOrEqual(2);
    expect(redis.nodes('master')).toHaveLength(3);
    expect(await assertNoEviction(redis)).toBe('checked');
  });

  it('wakes subscribers over cluster pub/sub when a shard gets work', async () => {
    const { fixture: f } = setup();
    const subscriber = connectRedis(f.config, 'laneq-test-wake');
    try {
      const heard: string[] = [];
      subscriber.on('message', (_channel: string, message: string) => heard.push(message));
      await subscriber.subscribe(f.engine.keys.wakeChannel);
      const [client] = await clientsOnDistinctMasters(setup().redis, 1, 'wake');
      await f.engine.enqueue(client as string, [{ type: 'noop', payload: null, maxAttempts: 1, timeoutMs: 1_000 }]);
      await eventually(() => heard.includes(f.engine.keys.forClient(client as string).keys[0] as string), 5_000);
    } finally {
      await closeRedis(subscriber);
    }
  });

  it('deduplicates idempotent enqueues, cancels and dequeues on every master', async () => {
    const { fixture: f, redis } = setup();
    const clients = await clientsOnDistinctMasters(redis, 3, 'single');
    expect(clients.length).toBeGreaterThanOrEqual(2);
    for (const client of clients) {
      const request = { type: 'noop', payload: null, maxAttempts: 1, timeoutMs: 1_000 };
      const [first] = await f.engine.enqueue(client, [{ ...request, idempotencyKey: 'once' }]);
      const [again] = await f.engine.enqueue(client, [{ ...request, idempotencyKey: 'once' }]);
      expect(again?.id).toBe(first?.id);
      expect(again?.status).toBe('queued');

      const [victim] = await f.engine.enqueue(client, [{ ...request, payload: { n: 2 } }]);
      const victimId = victim?.id as string;
      expect(victim?.position).toBeGreaterThanOrEqual(1);
      expect(await f.engine.cancel('someone-else', victimId)).toEqual({ outcome: 'not_found' });
      const cancelled = await f.engine.cancel(client, victimId);
      expect(cancelled.outcome).toBe('cancelled');
      expect((await f.engine.cancel(client, victimId)).outcome).toBe('not_cancellable');
      expect((await f.engine.get(client, victimId))?.status).toBe('cancelled');

      const dequeued = await f.engine.dequeue(client);
      expect(dequeued?.id).toBe(victimId);
      expect(dequeued?.record?.status).toBe('cancelled');
      expect(await f.engine.dequeue(client)).toBeUndefined();
      expect(await f.engine.stats(client)).toMatchObject({ pending: 1, running: 0, cancelled: 1 });
    }
  });

  it(`runs ${CLIENTS} clients × ${PER_CLIENT} requests on two workers in per-client order, losing nothing`, async () => {
    const { fixture: f } = setup();
    await ensureWorkers();

    const clients = Array.from({ length: CLIENTS }, (_, n) => `cluster-client-${n}`);
    const entries = clients.flatMap((clientId, c) =>
      Array.from({ length: PER_CLIENT }, (_, n) => ({
        clientId,
        request:
          (c + n) % 2 === 0
            ? { type: 'sleep', payload: { ms: n % 3 }, maxAttempts: 3, timeoutMs: 5_000 }
            : { type: 'noop', payload: null, maxAttempts: 3, timeoutMs: 5_000 },
      })),
    );
    const accepted = await f.engine.enqueueMany(entries);
    expect(accepted.every((entry) => entry.status === 'queued')).toBe(true);
    const ids = new Map<string, string[]>(clients.map((client) => [client, []]));
    accepted.forEach((entry, n) => ids.get(entries[n]?.clientId as string)?.push(entry.id));
    expect(new Set(accepted.map((entry) => entry.id)).size).toBe(CLIENTS * PER_CLIENT);

    const archived = async () => {
      const { rows } = await f.pool.query<{ count: string }>(
        'SELECT count(*) FROM requests WHERE client_id = ANY($1) AND status = $2',
        [clients, 'succeeded'],
      );
      return Number(rows[0]?.count);
    };
    await eventually(async () => (await archived()) === CLIENTS * PER_CLIENT, 30_000, 100);

    const records = new Map<string, RequestRecord[]>();
    await Promise.all(
      clients.map(async (client) => {
        const list = await Promise.all((ids.get(client) ?? []).map((id) => f.engine.get(client, id)));
        records.set(client, list as RequestRecord[]);
      }),
    );
    for (const list of records.values()) {
      for (const record of list) {
        expect(record).toBeDefined();
        expect(record.status).toBe('succeeded');
        expect(record.attempts).toBe(1);
      }
    }
    expect(checkOrder(records)).toEqual({ orderViolations: [], overlapViolations: [] });
    expect(overlaps).toEqual([]);
    for (const client of clients) expect(handlerOrder.get(client)).toEqual(ids.get(client));
    expect(ranOn[0]).toBeGreaterThan(0);
    expect(ranOn[1]).toBeGreaterThan(0);

    // The archive holds each request exactly once, and the Redis side is drained.
    const { rows } = await f.pool.query<{ id: string }>('SELECT id FROM requests WHERE client_id = ANY($1)', [clients]);
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set(accepted.map((entry) => entry.id)));
    const redis = f.redis as Cluster;
    await eventually(async () => {
      const lengths = await Promise.all(
        f.engine.keys.shards.map(async (shard) =>
          Promise.all([
            redis.hget(shardKey(shard, 'stats'), 'backlog').then(Number),
            redis.hlen(shardKey(shard, 'heads')),
            redis.zcard(shardKey(shard, 'leases')),
            redis.xlen(shard.archive),
          ]),
        ),
      );
      // The idempotency test's clients each left one noop queued: the workers ran those as well.
      return lengths.every((counts) => counts.every((count) => count === 0));
    }, 10_000, 100);
  });

  it('retries failed attempts on every master, keeping each client in order', async () => {
    const { fixture: f, redis } = setup();
    await ensureWorkers();
    const clients = await clientsOnDistinctMasters(redis, 3, 'retry');
    const request = (type: string) => ({ type, payload: null, maxAttempts: 3, timeoutMs: 5_000 });
    const ids = new Map<string, string[]>();
    for (const client of clients) {
      const accepted = await f.engine.enqueue(client, [request('flaky'), request('noop'), request('flaky')]);
      ids.set(client, accepted.map((entry) => entry.id));
    }
    const records = new Map<string, RequestRecord[]>();
    await eventually(async () => {
      for (const client of clients) {
        const list = await Promise.all((ids.get(client) ?? []).map((id) => f.engine.get(client, id)));
        if (!list.every((record) => record?.status === 'succeeded')) return false;
        records.set(client, list as RequestRecord[]);
      }
      return true;
    }, 10_000, 50);
    for (const client of clients) {
      const [first, second, third] = ids.get(client) as [string, string, string];
      expect(records.get(client)?.map((record) => record.attempts)).toEqual([2, 1, 2]);
      expect(records.get(client)?.[0]?.history.map((attempt) => attempt.error.message)).toEqual(['the first attempt fails']);
      // The retried head blocks its client until it succeeds: nothing overtakes it.
      expect(handlerOrder.get(client)).toEqual([first, first, second, third, third]);
    }
    expect(checkOrder(records)).toEqual({ orderViolations: [], overlapViolations: [] });
    expect(overlaps).toEqual([]);
  });
});
