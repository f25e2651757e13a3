/**
 * Promises 6 and 7: idempotency keys (the same key within its TTL names the original request,
 * also inside one batch; per client) and cancellation (a queued request that has not started is
 * cancelled and never runs; running or finished ones are not cancellable; another client's id is
 * not found).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueEngine } from '../../src/queue/engine.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { Gates, StartLog, allIn, archivedRows, clientId, handler, req, backlogCountOfShard } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture({ SHUTDOWN_GRACE_MS: '200' });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await fixture.cleanup();
});

/** Records every start; requests with a `gate` payload wait until the test opens that gate. */
function gated(log: StartLog, gates: Gates) {
  return handler(async (payload, context) => {
    log.record('w', payload, context);
    const gate = (payload as { gate?: string } | null)?.gate;
    if (gate) await gates.wait(gate, context.signal);
    return { ran: context.requestId };
  });
}

describe('idempotency keys', () => {
  it('returns the original request for a repeated key, in later calls and within one batch', async () => {
    const client = clientId('idem');
    const [first] = await fixture.engine.enqueue(client, [req('noop', null, { idempotencyKey: 'k1' })]);
    expect(first).toMatchObject({ status: 'queued', position: 0 });

    const [again] = await fixture.engine.enqueue(client, [req('noop', null, { idempotencyKey: 'k1' })]);
    expect(again).toEqual({ id: first?.id, status: 'queued', position: 0 });

    const batch = await fixture.engine.enqueue(client, [
      req('noop', { n: 1 }, { idempotencyKey: 'k2' }),
      req('noop', { n: 2 }),
      req('noop', { n: 3 }, { idempotencyKey: 'k2' }),
      req('noop', { n: 4 }, { idempotencyKey: 'k1' }),
      req('noop', { n: 5 }),
    ]);
    expect(batch[2]?.id).toBe(batch[0]?.id);
    expect(batch[2]).toMatchObject({ status: 'queued', position: 1 });
    expect(batch[3]).toEqual({ id: first?.id, status: 'queued', position: 0 });
    expect(new Set(batch.map((entry) => entry.id)).size).toBe(4);
    // Only the new requests were queued: k1's, k2's and the two without a key.
    expect(batch.map((entry) => entry.position)).toEqual([1, 2, 1, 0, 3]);
    expect(await fixture.engine.stats(client)).toMatchObject({ pending: 4 });

    // Keys are per client.
    const other = clientId('idem-other');
    const [foreign] = await fixture.engine.enqueue(other, [req('noop', null, { idempotencyKey: 'k1' })]);
    expect(foreign?.id).not.toBe(first?.id);
    expect(foreign).toMatchObject({ status: 'queued', position: 0 });

    // Once the original has run, the key still names it, now with its final status.
    await fixture.startWorker();
    await eventually(() => allIn(fixture.engine, client, [first?.id ?? ''], ['succeeded']));
    const [afterRun] = await fixture.engine.enqueue(client, [req('noop', null, { idempotencyKey: 'k1' })]);
    expect(afterRun).toEqual({ id: first?.id, status: 'succeeded', position: -1 });
    // ... and it still ran only once.
    await eventually(async () => (await archivedRows(fixture.pool, [first?.id ?? ''])).length === 1);
    expect((await archivedRows(fixture.pool, [first?.id ?? '']))[0]?.attempts).toBe(1);
  });

  it('forgets a key after its TTL, and reports a request that left Redis retention as archived', async () => {
    // An engine on the same keys whose idempotency window is 300 ms.
    const shortTtl = new QueueEngine(fixture.redis, { ...fixture.engine.settings, idempotencyTtlMs: 300 });
    const client = clientId('idem-ttl');
    const [first] = await shortTtl.enqueue(client, [req('noop', null, { idempotencyKey: 'once' })]);
    const [within] = await shortTtl.enqueue(client, [req('noop', null, { idempotencyKey: 'once' })]);
    expect(within?.id).toBe(first?.id);
    const idemKey = `${fixture.engine.keys.forClient(client).base}idem:${client}`;
    await eventually(async () => (await fixture.redis.exists(idemKey)) === 0, 5_000);
    const [after] = await shortTtl.enqueue(client, [req('noop', null, { idempotencyKey: 'once' })]);
    expect(after?.id).not.toBe(first?.id);
    expect(after).toMatchObject({ status: 'queued', position: 1 });

    // Results kept for 1 s only: the key outlives the final record, which is then 'archived'.
    const archivedClient = clientId('idem-archived');
    const [original] = await fixture.engine.enqueue(archivedClient, [req('noop', null, { idempotencyKey: 'a' })]);
    await fixture.startWorker({}, {}, { RESULT_RETENTION_S: 1 });
    await eventually(() => allIn(fixture.engine, archivedClient, [original?.id ?? ''], ['succeeded']));
    await eventually(async () => (await fixture.engine.get(archivedClient, original?.id ?? '')) === undefined, 5_000);
    const [repeat] = await fixture.engine.enqueue(archivedClient, [req('noop', null, { idempotencyKey: 'a' })]);
    expect(repeat).toEqual({ id: original?.id, status: 'archived', position: -1 });
  });
});

describe('cancel', () => {
  it('cancels queued requests that have not started; they never run and are archived as cancelled', async () => {
    const client = clientId('cancel');
    const [a, b, c, d] = await fixture.engine.enqueue(client, [
      req('gated', { n: 'a' }),
      req('gated', { n: 'b' }),
      req('gated', { n: 'c' }),
      req('gated', { n: 'd' }),
    ]);

    // The head (never started) and one in the middle.
    const cancelledHead = await fixture.engine.cancel(client, a?.id ?? '');
    expect(cancelledHead).toMatchObject({ outcome: 'cancelled', record: { id: a?.id, status: 'cancelled', attempts: 0 } });
    const cancelledMiddle = await fixture.engine.cancel(client, c?.id ?? '');
    expect(cancelledMiddle).toMatchObject({ outcome: 'cancelled', record: { status: 'cancelled' } });
    expect(await fixture.engine.get(client, c?.id ?? '')).toMatchObject({ status: 'cancelled' });
    expect(await fixture.engine.get(client, d?.id ?? '')).toMatchObject({ status: 'queued', position: 1 });
    expect(await fixture.engine.stats(client)).toMatchObject({ pending: 2, cancelled: 2 });
    // (Read again until two reads agree: another test's worker may be busy in the same shard.)
    await eventually(async () => {
      const { counted, held } = await backlogCountOfShard(fixture.engine, client);
      return counted === held;
    }, 3_000);

    // Cancelling again: finished, not cancellable. Another client, or an unknown id: not found.
    expect(await fixture.engine.cancel(client, c?.id ?? '')).toMatchObject({
      outcome: 'not_cancellable',
      record: { status: 'cancelled' },
    });
    expect(await fixture.engine.cancel(clientId('intruder'), b?.id ?? '')).toEqual({ outcome: 'not_found' });
    expect(await fixture.engine.cancel(clientId('intruder'), c?.id ?? '')).toEqual({ outcome: 'not_found' });
    expect(await fixture.engine.cancel(client, '01890000-0000-7000-8000-000000000000')).toEqual({ outcome: 'not_found' });

    const log = new StartLog();
    await fixture.startWorker({ gated: gated(log, new Gates()) });
    await eventually(() => allIn(fixture.engine, client, [b?.id ?? '', d?.id ?? ''], ['succeeded']));
    expect(log.ofClient(client).map((event) => event.id)).toEqual([b?.id, d?.id]);

    await eventually(async () => (await archivedRows(fixture.pool, [a?.id ?? '', c?.id ?? ''])).length === 2);
    for (const row of await archivedRows(fixture.pool, [a?.id ?? '', c?.id ?? ''])) {
      expect(row).toMatchObject({ status: 'cancelled', attempts: 0, started_ms: null });
    }
    // Nothing of the cancelled requests ran, even later.
    expect(log.events.some((event) => event.id === a?.id || event.id === c?.id)).toBe(false);
  });

  it('refuses to cancel a running request or a finished one', async () => {
    const log = new StartLog();
    const gates = new Gates();
    await fixture.startWorker({ gated: gated(log, gates) });
    const client = clientId('cancel-running');
    const [a, b] = await fixture.engine.enqueue(client, [req('gated', { gate: 'a' }), req('gated', {})]);
    await eventually(() => log.ofRequest(a?.id ?? '').length === 1);

    const whileRunning = await fixture.engine.cancel(client, a?.id ?? '');
    expect(whileRunning).toMatchObject({ outcome: 'not_cancellable', record: { status: 'running', attempts: 1 } });
    expect(await fixture.engine.cancel(clientId('intruder'), a?.id ?? '')).toEqual({ outcome: 'not_found' });

    gates.open('a');
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? '', b?.id ?? ''], ['succeeded']));
    expect(await fixture.engine.cancel(client, a?.id ?? '')).toMatchObject({
      outcome: 'not_cancellable',
      record: { status: 'succeeded' },
    });
    expect(await fixture.engine.get(client, a?.id ?? '')).toMatchObject({ status: 'succeeded', result: { ran: a?.id } });
  });

  it('refuses to cancel a request waiting for its retry', async () => {
    const failOnce = handler((_payload, context) => {
      if (context.attempt === 1) throw new Error('first attempt fails');
      return null;
    });
    await fixture.startWorker({ failOnce }, {}, { RETRY_BASE_MS: 2_000, RETRY_MAX_MS: 2_000 });
    const client = clientId('cancel-retry');
    const [a] = await fixture.engine.enqueue(client, [req('failOnce')]);
    await eventually(async () => (await fixture.engine.get(client, a?.id ?? ''))?.retryAt !== undefined);
    expect(await fixture.engine.cancel(client, a?.id ?? '')).toMatchObject({ outcome: 'not_cancellable' });
    await eventually(() => allIn(fixture.engine, client, [a?.id ?? ''], ['succeeded']), 10_000);
  });

  it('takes a client whose only request was cancelled out of the ready ring', async () => {
    const client = clientId('cancel-only');
    const shard = fixture.engine.keys.forClient(client);
    const [a] = await fixture.engine.enqueue(client, [req('gated', {})]);
    expect(await fixture.redis.lpos(shard.keys[0] as string, client)).not.toBeNull();
    expect((await fixture.engine.cancel(client, a?.id ?? '')).outcome).toBe('cancelled');
    expect(await fixture.redis.lpos(shard.keys[0] as string, client)).toBeNull();
    expect(await fixture.redis.exists(`${shard.base}q:${client}`)).toBe(0);

    // The client can queue again afterwards and is served.
    const log = new StartLog();
    await fixture.startWorker({ gated: gated(log, new Gates()) });
    const [b] = await fixture.engine.enqueue(client, [req('gated', {})]);
    await eventually(() => allIn(fixture.engine, client, [b?.id ?? ''], ['succeeded']));
    expect(log.ofClient(client).map((event) => event.id)).toEqual([b?.id]);
  });
});
