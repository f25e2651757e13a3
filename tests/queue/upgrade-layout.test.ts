/**
 * `npm run upgrade:redis`: queues written in the layout before the heads hash (every record in
 * jobs naming its client, the head first in q:<client>, leases by request id) are rewritten into
 * today's, and then run in order with nothing lost, the running head's lease carried over; so are
 * queues whose backlog records were in the jobs hash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { OutdatedLayoutError, upgradeRedisLayout, upgradeRevocations } from '../../src/queue/upgrade-layout.js';
import { startServer } from '../../src/server.js';
import { engineFixture, eventually, rejection, type EngineFixture } from '../helpers/engine.js';
import { runScript } from '../helpers/process.js';
import { StartLog, allIn, clientId, handler, keysOfClient, keyKind, backlogIds } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture();
});
afterAll(async () => {
  await fixture.cleanup();
});

/** Writes a client's queue as the earlier layout stored it; the first request may be leased. */
async function writeOldLayout(client: string, ids: string[], headLease?: { fence: number; deadline: number }): Promise<void> {
  const { base } = fixture.engine.keys.forClient(client);
  const enqueuedAt = Date.now();
  for (const [index, id] of ids.entries()) {
    const leased = index === 0 && headLease !== undefined;
    const head = leased ? `{"l":1,"k":${headLease.fence},"a":1,"s":${enqueuedAt},` : '{"l":0,"k":0,"a":0,"s":0,';
    const rest = `"c":${JSON.stringify(client)},"t":"rec","p":${JSON.stringify(JSON.stringify({ n: index }))},"m":3,"o":60000,"e":${enqueuedAt}}`;
    await fixture.redis.hset(`${base}jobs`, id, head + rest);
    await fixture.redis.rpush(`${base}q:${client}`, id);
  }
  if (headLease) await fixture.redis.zadd(`${base}leases`, headLease.deadline, ids[0] as string);
  else await fixture.redis.rpush(`${base}ready`, client);
}

/**
 * Writes a client's queue as the layout before backlog records moved into q:<client> stored it:
 * the head in `heads`, q:<client> listing the ids behind it, their records in `jobs`.
 */
async function writeJobsLayout(client: string, ids: string[]): Promise<void> {
  const { base } = fixture.engine.keys.forClient(client);
  const rest = (n: number) => `"t":"rec","p":${JSON.stringify(JSON.stringify({ n }))},"m":3,"o":60000,"e":${Date.now()}}`;
  await fixture.redis.hset(`${base}heads`, client, `{"l":0,"k":0,"a":0,"s":0,"i":"${ids[0]}",${rest(0)}`);
  for (const [index, id] of ids.slice(1).entries()) {
    // The second request waits for its retry after a run's lease expired: it keeps its attempts.
    const record = index === 0 ? `{"l":0,"k":2,"a":1,"s":5,"i":"${id}",${rest(1)}` : `{"k":0,${rest(index + 1)}`;
    await fixture.redis.hset(`${base}jobs`, id, record);
    await fixture.redis.rpush(`${base}q:${client}`, id);
  }
  await fixture.redis.rpush(`${base}ready`, client);
}

const idsOf = (label: string, count: number) =>
  Array.from({ length: count }, (_, n) => `01900000-0000-7000-8000-${label.padStart(6, '0')}${String(n).padStart(6, '0')}`);

describe('upgrading the Redis layout', () => {
  it('rewrites old queues once, keeps their order and the running lease, and they then run to the end', async () => {
    const busy = clientId('old-busy');
    const single = clientId('old-single');
    const busyIds = idsOf('1', 3);
    const singleIds = idsOf('2', 1);
    // busy's head was running on a worker that is gone: its lease deadline has passed.
    await writeOldLayout(busy, busyIds, { fence: 4, deadline: 0 });
    await writeOldLayout(single, singleIds);

    expect(await upgradeRedisLayout(fixture.engine)).toEqual({ clients: 2, requests: 4 });
    expect(await upgradeRedisLayout(fixture.engine)).toEqual({ clients: 0, requests: 0 });

    const { base } = fixture.engine.keys.forClient(busy);
    expect(await backlogIds(fixture.engine, busy)).toEqual(busyIds.slice(1));
    expect(await fixture.redis.zscore(`${base}leases`, busy)).toBe('0');
    expect(await fixture.engine.get(busy, busyIds[0] as string)).toMatchObject({ status: 'running', clientId: busy, attempts: 1 });
    expect(await fixture.engine.get(busy, busyIds[2] as string)).toMatchObject({ status: 'queued', position: 2 });
    expect(await fixture.engine.get(single, singleIds[0] as string)).toMatchObject({ status: 'queued', position: 0 });
    const kinds = (await keysOfClient(fixture.redis, fixture.config.KEY_PREFIX, single)).map(keyKind);
    expect(kinds).toEqual([]);

    const log = new StartLog();
    await fixture.startWorker({ rec: handler((payload, context) => log.record('w', payload, context)) });
    await eventually(() => allIn(fixture.engine, busy, busyIds, ['succeeded']));
    await eventually(() => allIn(fixture.engine, single, singleIds, ['succeeded']));
    // The expired lease was taken back and its request delivered again first, as attempt 2.
    expect(log.ofClient(busy).map((event) => [event.id, event.attempt])).toEqual([
      [busyIds[0], 2],
      [busyIds[1], 1],
      [busyIds[2], 1],
    ]);
    expect(log.ofClient(single).map((event) => event.id)).toEqual(singleIds);
  });
});

describe('upgrading from backlog records in the jobs hash', () => {
  it('moves each record next to its id in q:<client>, once, and the queue then runs in order', async () => {
    const client = clientId('jobs-layout');
    const ids = idsOf('3', 4);
    await writeJobsLayout(client, ids);

    expect(await upgradeRedisLayout(fixture.engine)).toEqual({ clients: 1, requests: 3 });
    expect(await upgradeRedisLayout(fixture.engine)).toEqual({ clients: 0, requests: 0 });
    const { base } = fixture.engine.keys.forClient(client);
    expect(await backlogIds(fixture.engine, client)).toEqual(ids.slice(1));
    expect(await fixture.redis.hlen(`${base}jobs`)).toBe(0);
    expect(await fixture.engine.get(client, ids[1] as string)).toMatchObject({ status: 'queued', position: 1, attempts: 1 });
    expect(await fixture.engine.get(client, ids[3] as string)).toMatchObject({ status: 'queued', position: 3, attempts: 0 });

    const log = new StartLog();
    await fixture.startWorker({ rec: handler((payload, context) => log.record('w', payload, context)) });
    await eventually(() => allIn(fixture.engine, client, ids, ['succeeded']));
    expect(log.ofClient(client).map((event) => [event.id, event.attempt])).toEqual([
      [ids[0], 1],
      [ids[1], 2],
      [ids[2], 1],
      [ids[3], 1],
    ]);
  });
});

describe('upgrading revocations', () => {
  it('moves logged-out sessions into their user\'s shard with the time they had left, so their enqueues stay refused', async () => {
    const userId = randomUUID();
    const family = randomUUID();
    const unknownFamily = randomUUID();
    await fixture.pool.query("INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')", [userId, `u-${userId}`]);
    await fixture.pool.query(
      "INSERT INTO sessions (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 day')",
      [randomUUID(), family, userId, Buffer.from(randomUUID())],
    );
    const oldKey = (id: string) => `${fixture.config.KEY_PREFIX}:auth:revoked:${id}`;
    await fixture.redis.set(oldKey(family), '1', 'EX', 600);
    await fixture.redis.set(oldKey(unknownFamily), '1', 'EX', 600);

    expect(await upgradeRevocations(fixture.engine, fixture.pool)).toBe(1);
    expect(await fixture.redis.exists(oldKey(family), oldKey(unknownFamily))).toBe(0);
    const left = await fixture.redis.pttl(fixture.engine.keys.revokedKey(userId, family));
    expect(left).toBeGreaterThan(590_000);
    expect(left).toBeLessThanOrEqual(600_000);

    const refused = await fixture.engine
      .enqueue(userId, [{ type: 'noop', payload: null, maxAttempts: 1, timeoutMs: 1_000 }], { sessionFamily: family, perSecond: 10 })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('unauthorized');
    expect(await fixture.engine.stats(userId)).toMatchObject({ pending: 0 });
  });
});

describe('npm run upgrade:redis', () => {
  it('rewrites an old queue from the command line, says what it did, and exits 0', async () => {
    // As the upgrade wants it: no laneq process running.
    await Promise.all(fixture.workers.map((worker) => worker.stop()));
    const client = clientId('old-cli');
    const ids = idsOf('3', 2);
    await writeOldLayout(client, ids);
    const env = {
      NODE_ENV: 'test',
      REDIS_URL: fixture.config.REDIS_URL,
      DATABASE_URL: fixture.config.DATABASE_URL,
      KEY_PREFIX: fixture.config.KEY_PREFIX,
      QUEUE_SHARDS: String(fixture.config.QUEUE_SHARDS),
      JWT_SECRET: fixture.config.JWT_SECRET,
    };
    const run = await runScript('src/queue/upgrade-cli.ts', [], { env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('rewrote 2 requests of 1 clients');
    expect(await fixture.engine.get(client, ids[1] as string)).toMatchObject({ status: 'queued', position: 1, clientId: client });

    const again = await runScript('src/queue/upgrade-cli.ts', [], { env });
    expect(again.stdout).toContain('rewrote 0 requests of 0 clients');
  });
});

describe('starting on an earlier layout', () => {
  it('refuses to start until npm run upgrade:redis has run, then starts', async () => {
    const client = clientId('not-upgraded');
    const ids = idsOf('4', 2);
    // Only what the check looks at, with nothing in the ready ring: no running worker may claim it meanwhile.
    const { base } = fixture.engine.keys.forClient(client);
    await fixture.redis.hset(`${base}heads`, client, `{"l":0,"k":0,"a":0,"s":0,"i":"${ids[0]}","t":"rec","p":"null","m":3,"o":60000,"e":1}`);
    await fixture.redis.hset(`${base}jobs`, ids[1] as string, '{"k":0,"t":"rec","p":"null","m":3,"o":60000,"e":1}');
    await fixture.redis.rpush(`${base}q:${client}`, ids[1] as string);
    const config = { ...fixture.config, ROLE: 'worker' as const, WORKER_METRICS_PORT: 0 };

    const refused = await rejection(startServer(config, createLogger('silent')));
    expect(refused).toBeInstanceOf(OutdatedLayoutError);
    expect(refused.message).toContain('npm run upgrade:redis');
    expect(refused.message).toContain(`${base}jobs`);
    expect(await fixture.redis.hlen(`${base}jobs`)).toBe(1);

    expect(await upgradeRedisLayout(fixture.engine)).toEqual({ clients: 1, requests: 1 });
    const running = await startServer(config, createLogger('silent'));
    await running.close();
  });
});
