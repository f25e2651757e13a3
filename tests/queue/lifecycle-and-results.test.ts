/**
 * Promises 8 and 9: a client's queue keys exist only while it has work, and after it logs out
 * (markClientGone) and drains nothing of it stays but expiring result retention; finished
 * records stay readable for the retention window and at most RESULT_RETENTION_COUNT per client;
 * the outbox hands finished requests out in finish order; every final state is archived in
 * PostgreSQL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError } from '../../src/worker/handlers/types.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import {
  Gates,
  StartLog,
  allIn,
  archivedRows,
  clientId,
  handler,
  keyKind,
  keysOfClient,
  records,
  req,
} from '../helpers/queue.js';

const KEEP = 5;

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture({ RESULT_RETENTION_COUNT: String(KEEP), SHUTDOWN_GRACE_MS: '200' });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await fixture.cleanup();
});

/** Records every start; a request whose payload names a `gate` waits until the test opens it. */
function testHandlers(log: StartLog, gates: Gates) {
  return {
    gated: handler(async (payload, context) => {
      log.record('w', payload, context);
      const gate = (payload as { gate?: string } | null)?.gate;
      if (gate) await gates.wait(gate, context.signal);
      return { ran: context.requestId };
    }),
    fail: handler((payload, context) => {
      log.record('w', payload, context);
      throw new PermanentError('refused', 'refused');
    }),
    failOnce: handler((payload, context) => {
      log.record('w', payload, context);
      if (context.attempt === 1) throw new Error('first attempt fails');
      return null;
    }),
  };
}

/** Kinds of the keys named after `client` (q, fin, idem, client, ...). */
async function kindsOf(client: string): Promise<string[]> {
  return [...new Set((await keysOfClient(fixture.redis, fixture.config.KEY_PREFIX, client)).map(keyKind))].sort();
}

/** Nothing of the client in the shard-wide structures (ring, retry schedule, heads, leases) or its backlog. */
async function shardHoldsNothingOf(client: string, ids: string[]): Promise<void> {
  const { base } = fixture.engine.keys.forClient(client);
  expect(await fixture.redis.lpos(`${base}ready`, client)).toBeNull();
  expect(await fixture.redis.zscore(`${base}delayed`, client)).toBeNull();
  expect(await fixture.redis.zscore(`${base}leases`, client)).toBeNull();
  expect(await fixture.redis.hexists(`${base}heads`, client)).toBe(0);
  expect(await fixture.redis.exists(`${base}q:${client}`)).toBe(0);
  const unfinished = await fixture.redis.hvals(`${base}heads`);
  expect(unfinished.filter((json) => ids.some((id) => json.includes(id)))).toEqual([]);
}

/**
 * What may stay of a drained, logged-out client: its retention keys fin: (finished ids, also the
 * outbox), res: (their final records) and client: (counters and the outbox cursor), every one of
 * them expiring within the retention window.
 */
async function expectOnlyExpiringRetention(client: string): Promise<void> {
  const keys = await keysOfClient(fixture.redis, fixture.config.KEY_PREFIX, client);
  for (const key of keys) {
    expect(['fin', 'res', 'client']).toContain(keyKind(key));
    const ttl = await fixture.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(fixture.config.RESULT_RETENTION_S * 1000);
  }
  const meta = `${fixture.engine.keys.forClient(client).base}client:${client}`;
  expect(await fixture.redis.hget(meta, 'gone')).toBeNull();
}

describe('queue lifecycle', () => {
  it('keeps a client’s queue keys only while it has work, and after logout and drain only expiring retention', async () => {
    const client = clientId('life');
    expect(await kindsOf(client)).toEqual([]);

    const log = new StartLog();
    const gates = new Gates();
    const accepted = await fixture.engine.enqueue(client, [
      req('gated', { gate: 'first' }, { idempotencyKey: 'once' }),
      req('gated', {}),
      req('gated', {}),
    ]);
    const ids = accepted.map((entry) => entry.id);
    expect(await kindsOf(client)).toEqual(['idem', 'q']);

    await fixture.startWorker(testHandlers(log, gates));
    await eventually(() => log.ofRequest(ids[0] as string).length === 1);
    // Logged out with work pending: nothing is removed yet, and the work still runs.
    expect(await fixture.engine.markClientGone(client)).toBe(false);
    expect(await kindsOf(client)).toContain('q');
    gates.open('first');
    await eventually(() => allIn(fixture.engine, client, ids, ['succeeded']));
    expect(log.ofClient(client).map((event) => event.id)).toEqual(ids);

    expect(await kindsOf(client)).not.toContain('q');
    expect(await kindsOf(client)).not.toContain('idem');
    await expectOnlyExpiringRetention(client);
    await shardHoldsNothingOf(client, ids);
    // The finished records themselves stay readable, in res:<client>, expiring too.
    const results = `${fixture.engine.keys.forClient(client).base}res:${client}`;
    expect(await fixture.redis.hkeys(results)).toEqual(expect.arrayContaining(ids));
    expect(await fixture.redis.pttl(results)).toBeGreaterThan(0);
    expect(await records(fixture.engine, client, ids)).toEqual(ids.map(() => expect.objectContaining({ status: 'succeeded' })));
  });

  it('keeps a client with one request in its shard’s heads hash, with no key of its own', async () => {
    const client = clientId('single');
    const { base } = fixture.engine.keys.forClient(client);
    const [a] = await fixture.engine.enqueue(client, [req('gated', { gate: 'single-a' })]);
    // The promise of a small footprint: a key costs Redis more than the request itself.
    expect(await kindsOf(client)).toEqual([]);
    expect(JSON.parse((await fixture.redis.hget(`${base}heads`, client)) ?? '{}')).toMatchObject({ i: a?.id, a: 0 });

    const [b] = await fixture.engine.enqueue(client, [req('gated', {})]);
    expect(await kindsOf(client)).toEqual(['q']);
    // Behind the head, the backlog holds each request's id and then its record, which keeps no
    // id, lease mark, attempts or start: it has none yet.
    const [backlogId, backlogRaw] = await fixture.redis.lrange(`${base}q:${client}`, 0, -1);
    expect(backlogId).toBe(b?.id);
    const backlog = JSON.parse(backlogRaw ?? '{}') as Record<string, unknown>;
    expect(Object.keys(backlog).sort()).toEqual(['e', 'k', 'm', 'o', 'p', 't']);
    expect(await fixture.engine.get(client, b?.id ?? '')).toMatchObject({ status: 'queued', attempts: 0, position: 1, clientId: client });

    const log = new StartLog();
    const gates = new Gates();
    await fixture.startWorker(testHandlers(log, gates));
    await eventually(() => log.ofRequest(a?.id ?? '').length === 1);
    gates.open('single-a');
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? '', b?.id ?? ''], ['succeeded']));
    expect(log.ofClient(client).map((event) => event.id)).toEqual([a?.id, b?.id]);
    // b became the head when a ended, which removed the backlog key; then b ended too.
    expect(await kindsOf(client)).not.toContain('q');
    expect(await fixture.redis.hexists(`${base}heads`, client)).toBe(0);
  });

  it('removes an idle client’s keys at logout at once, and keeps none for a client without work', async () => {
    const client = clientId('idle');
    const [a] = await fixture.engine.enqueue(client, [req('gated', {}, { idempotencyKey: 'k' })]);
    await fixture.startWorker(testHandlers(new StartLog(), new Gates()));
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? ''], ['succeeded']));
    // Drained but still logged in: the queue is gone, the idempotency key is remembered.
    expect(await kindsOf(client)).not.toContain('q');
    expect(await kindsOf(client)).toContain('idem');

    expect(await fixture.engine.markClientGone(client)).toBe(true);
    expect(await kindsOf(client)).not.toContain('idem');
    await expectOnlyExpiringRetention(client);

    const stranger = clientId('never-queued');
    expect(await fixture.engine.markClientGone(stranger)).toBe(true);
    expect(await kindsOf(stranger)).toEqual([]);
  });

  it('finishes a logged-out client’s request that waits for a retry, then removes its keys', async () => {
    const client = clientId('gone-retry');
    const log = new StartLog();
    await fixture.startWorker(testHandlers(log, new Gates()), {}, { RETRY_BASE_MS: 600, RETRY_MAX_MS: 600 });
    const [a, b] = await fixture.engine.enqueue(client, [req('failOnce', null, { idempotencyKey: 'r' }), req('gated', {})]);
    await eventually(async () => (await fixture.engine.get(client, a?.id ?? ''))?.retryAt !== undefined);
    expect(await fixture.engine.markClientGone(client)).toBe(false);
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? '', b?.id ?? ''], ['succeeded']), 10_000);
    expect((await fixture.engine.get(client, a?.id ?? ''))?.attempts).toBe(2);
    expect(await kindsOf(client)).not.toContain('q');
    expect(await kindsOf(client)).not.toContain('idem');
    await expectOnlyExpiringRetention(client);
    await shardHoldsNothingOf(client, [a?.id ?? '', b?.id ?? '']);
  });
});

describe('results', () => {
  it(`keeps at most ${KEEP} finished records per client in Redis, all of them in the archive`, async () => {
    const client = clientId('retention');
    const accepted = await fixture.engine.enqueue(
      client,
      Array.from({ length: 8 }, (_, n) => req('gated', { n })),
    );
    const ids = accepted.map((entry) => entry.id);
    await fixture.startWorker(testHandlers(new StartLog(), new Gates()));
    await eventually(async () => (await archivedRows(fixture.pool, ids)).length === 8);

    const { base } = fixture.engine.keys.forClient(client);
    for (const [n, id] of ids.entries()) {
      const record = await fixture.engine.get(client, id);
      if (n < 8 - KEEP) {
        expect(record).toBeUndefined();
        expect(await fixture.redis.hexists(`${base}res:${client}`, id)).toBe(0);
      } else {
        expect(record).toMatchObject({ status: 'succeeded', payload: { n } });
      }
    }
    expect(await fixture.redis.lrange(`${base}fin:${client}`, 0, -1)).toEqual(ids.slice(8 - KEEP));

    // The outbox holds the retained ones, oldest first.
    const dequeued: string[] = [];
    for (let next = await fixture.engine.dequeue(client); next; next = await fixture.engine.dequeue(client)) {
      expect(next.record?.status).toBe('succeeded');
      dequeued.push(next.id);
    }
    expect(dequeued).toEqual(ids.slice(8 - KEEP));
    expect(await fixture.engine.dequeue(client)).toBeUndefined();
  });

  it('hands finished requests out of the outbox in finish order, whatever their final state', async () => {
    const client = clientId('outbox');
    const log = new StartLog();
    const gates = new Gates();
    const [a, b, c] = await fixture.engine.enqueue(client, [
      req('gated', { gate: 'a' }),
      req('fail', {}),
      req('gated', {}),
    ]);
    expect(await fixture.engine.dequeue(client)).toBeUndefined();
    // Runs off: C, queued behind the running A, must stay cancellable (a run would hand it out).
    await fixture.startWorker(testHandlers(log, gates), {}, { WORKER_RUN_LENGTH: 1 });
    await eventually(() => log.ofRequest(a?.id ?? '').length === 1);
    // C finishes first (cancelled), then A (succeeded), then B (failed).
    expect((await fixture.engine.cancel(client, c?.id ?? '')).outcome).toBe('cancelled');
    gates.open('a');
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? '', b?.id ?? ''], ['succeeded', 'failed']));

    const first = await fixture.engine.dequeue(client);
    expect(first).toMatchObject({ id: c?.id, record: { status: 'cancelled' } });
    const second = await fixture.engine.dequeue(client);
    expect(second).toMatchObject({ id: a?.id, record: { status: 'succeeded', result: { ran: a?.id } } });
    const third = await fixture.engine.dequeue(client);
    expect(third).toMatchObject({ id: b?.id, record: { status: 'failed', error: { code: 'refused' } } });
    expect(await fixture.engine.dequeue(client)).toBeUndefined();

    // Later finishes join the end.
    const [d] = await fixture.engine.enqueue(client, [req('gated', {})]);
    await eventually(() => allIn(fixture.engine, client, [d?.id ?? ''], ['succeeded']));
    expect((await fixture.engine.dequeue(client))?.id).toBe(d?.id);
    expect(await fixture.engine.dequeue(client)).toBeUndefined();
  });

  it('keeps finished records while the client is busy, then lets them expire with its retention, the archive keeping them', async () => {
    const client = clientId('expiry');
    const log = new StartLog();
    const gates = new Gates();
    await fixture.startWorker(testHandlers(log, gates), {}, { RESULT_RETENTION_S: 1 });
    // B keeps the client busy for longer than the retention window after A ended.
    const [a, b] = await fixture.engine.enqueue(client, [req('gated', { n: 1 }), req('gated', { gate: 'b' })]);
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? ''], ['succeeded']));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await fixture.engine.get(client, a?.id ?? '')).toMatchObject({ status: 'succeeded', result: { ran: a?.id } });

    gates.open('b');
    await eventually(() => allIn(fixture.engine, client, [b?.id ?? ''], ['succeeded']));
    // Drained: the countdown runs, and then nothing of the client is left in Redis.
    await eventually(async () => (await kindsOf(client)).length === 0, 5_000);
    expect(await fixture.engine.get(client, a?.id ?? '')).toBeUndefined();
    expect(await fixture.engine.get(client, b?.id ?? '')).toBeUndefined();
    await eventually(async () => (await archivedRows(fixture.pool, [a?.id ?? '', b?.id ?? ''])).length === 2);
    expect((await archivedRows(fixture.pool, [a?.id ?? '']))[0]).toMatchObject({
      status: 'succeeded',
      result: { ran: a?.id },
      payload: { n: 1 },
    });
  });

  it('still reads a final record kept the earlier way, one done:<id> key per request', async () => {
    const client = clientId('legacy');
    await fixture.startWorker(testHandlers(new StartLog(), new Gates()));
    const [a] = await fixture.engine.enqueue(client, [req('gated', { n: 1 })]);
    const id = a?.id ?? '';
    await eventually(() => allIn(fixture.engine, client, [id], ['succeeded']));
    const { base } = fixture.engine.keys.forClient(client);
    const final = (await fixture.redis.hget(`${base}res:${client}`, id)) as string;
    await fixture.redis.hdel(`${base}res:${client}`, id);
    expect(await fixture.engine.get(client, id)).toBeUndefined();
    await fixture.redis.set(`${base}done:${id}`, final, 'PX', 60_000);
    expect(await fixture.engine.get(client, id)).toMatchObject({ status: 'succeeded', payload: { n: 1 } });
    expect(await fixture.engine.dequeue(client)).toMatchObject({ id, record: { status: 'succeeded' } });
  });

  it('archives every final state with the record Redis held', async () => {
    const client = clientId('archive');
    const log = new StartLog();
    const gates = new Gates();
    // Runs off, so that the last request stays cancellable while the first one runs.
    await fixture.startWorker(testHandlers(log, gates), {}, { RETRY_BASE_MS: 10, RETRY_MAX_MS: 10, WORKER_RUN_LENGTH: 1 });
    const [ok, retried, failed, cancelled] = await fixture.engine.enqueue(client, [
      req('gated', { gate: 'ok', text: 'héllo ✓' }),
      req('failOnce', [1, 2, 3]),
      req('fail', 'payload text', { maxAttempts: 4 }),
      req('gated', {}),
    ]);
    const ids = [ok, retried, failed, cancelled].map((entry) => entry?.id ?? '');
    await eventually(() => log.ofRequest(ids[0] as string).length === 1);
    expect((await fixture.engine.cancel(client, ids[3] as string)).outcome).toBe('cancelled');
    gates.open('ok');
    await eventually(() => allIn(fixture.engine, client, ids, ['succeeded', 'failed', 'cancelled']));
    const inRedis = await records(fixture.engine, client, ids);
    expect(inRedis.map((record) => record.status)).toEqual(['succeeded', 'succeeded', 'failed', 'cancelled']);

    await eventually(async () => (await archivedRows(fixture.pool, ids)).length === 4);
    const rows = new Map((await archivedRows(fixture.pool, ids)).map((row) => [row.id, row]));
    for (const record of inRedis) {
      const row = rows.get(record.id);
      expect(row).toMatchObject({
        client_id: client,
        type: record.type,
        status: record.status,
        attempts: record.attempts,
        max_attempts: record.maxAttempts,
        enqueued_ms: record.enqueuedAt,
        finished_ms: record.finishedAt,
        started_ms: record.startedAt ?? null,
        error: record.error ?? null,
      });
      expect(row?.payload).toEqual(record.payload);
      expect(row?.result ?? null).toEqual(record.result ?? null);
      expect((row?.history ?? []).map((entry) => entry.er)).toEqual(record.history.map((entry) => entry.error));
    }
    expect(rows.get(ids[1] as string)?.history).toHaveLength(1);
    expect(rows.get(ids[3] as string)).toMatchObject({ status: 'cancelled', started_ms: null, attempts: 0 });
  });
});
