/**
 * Promise 3: leases, heartbeats and fencing. A request whose worker went silent is delivered
 * again first (its client keeps its order, the attempt counts); the fencing token makes the
 * silent worker's late completion or failure 'stale', changing nothing; a request whose lease
 * expired on every attempt is dead-lettered. These tests drive WorkerOps by hand (no worker
 * running) unless they say otherwise; leases are 1 s so expiring one is quick.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import type { ClaimedRequest } from '../../src/queue/worker-ops.js';
import { Archiver } from '../../src/worker/archiver.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { StartLog, archivedRows, clientId, clientsInShard, handler, req, untilAborted } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  // Turns of one request: the claim tests below count on a client going behind any other that
  // waits (turns of several are tested in runs.test.ts).
  fixture = await engineFixture({ LEASE_MS: '1000', HEARTBEAT_MS: '200', SHUTDOWN_GRACE_MS: '200', WORKER_TURN_LENGTH: '1' });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await fixture.cleanup();
});

/** Waits until the lease of `id` has expired and the recovery script has taken it back. */
async function expireLease(client: string, id: string): Promise<'redelivered' | 'deadLettered'> {
  const shard = fixture.engine.keys.forClient(client);
  let outcome: 'redelivered' | 'deadLettered' | undefined;
  await eventually(async () => {
    const { redelivered, deadLettered } = await fixture.ops.recoverExpiredLeases(shard);
    if (redelivered.includes(id)) outcome = 'redelivered';
    if (deadLettered.includes(id)) outcome = 'deadLettered';
    return outcome !== undefined;
  }, 10_000);
  return outcome as 'redelivered' | 'deadLettered';
}

async function claimOne(client: string): Promise<ClaimedRequest[]> {
  return (await fixture.ops.claim(fixture.engine.keys.forClient(client), 10)).claimed.filter(
    (request) => request.clientId === client,
  );
}

describe('fencing', () => {
  it('refuses the completion and the failure of a stale claim, and accepts the current one', async () => {
    const client = clientId('fence');
    const [a, b] = await fixture.engine.enqueue(client, [req('noop', { n: 1 }), req('noop', { n: 2 })]);
    const shard = fixture.engine.keys.forClient(client);

    const [first] = await claimOne(client);
    expect(first).toMatchObject({ id: a?.id, attempt: 1 });
    // One in flight: while the head is claimed, nothing else of the client can be claimed.
    expect(await claimOne(client)).toEqual([]);

    expect(await expireLease(client, a?.id ?? '')).toBe('redelivered');
    const waiting = await fixture.engine.get(client, a?.id ?? '');
    expect(waiting).toMatchObject({ status: 'queued', attempts: 1, position: 0 });
    expect(waiting?.history).toEqual([
      expect.objectContaining({ attempt: 1, error: expect.objectContaining({ code: 'lease_expired' }) }),
    ]);

    const [second] = await claimOne(client);
    expect(second).toMatchObject({ id: a?.id, attempt: 2 });
    expect(Number(second?.fence)).toBeGreaterThan(Number(first?.fence));

    // The old fence can no longer keep the lease alive; the new one can.
    expect(await fixture.ops.heartbeat(shard, [{ clientId: client, id: a?.id ?? '', fence: first?.fence ?? '' }])).toEqual([a?.id]);
    expect(await fixture.ops.heartbeat(shard, [{ clientId: client, id: a?.id ?? '', fence: second?.fence ?? '' }])).toEqual([]);

    const before = await fixture.engine.get(client, a?.id ?? '');
    const staleOk = await fixture.ops.complete(first as ClaimedRequest, { ok: true, resultJson: '"stale"' }, 0);
    expect(staleOk.result).toBe('stale');
    const staleError = await fixture.ops.complete(
      first as ClaimedRequest,
      { ok: false, error: { message: 'stale failure' }, retryDelayMs: 0 },
      0,
    );
    expect(staleError.result).toBe('stale');
    // Nothing changed: still running under the second claim, same attempts and history, B still waits.
    expect(await fixture.engine.get(client, a?.id ?? '')).toEqual(before);
    expect(before).toMatchObject({ status: 'running', attempts: 2 });
    expect(await fixture.engine.get(client, b?.id ?? '')).toMatchObject({ status: 'queued', position: 1 });

    const current = await fixture.ops.complete(second as ClaimedRequest, { ok: true, resultJson: '{"v":2}' }, 0);
    expect(current.result).toBe('succeeded');
    const done = await fixture.engine.get(client, a?.id ?? '');
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, result: { v: 2 } });
    expect(done?.history).toHaveLength(1);

    // A repeated completion of the finished claim is stale too.
    expect((await fixture.ops.complete(second as ClaimedRequest, { ok: true, resultJson: '"again"' }, 0)).result).toBe('stale');
    expect(await fixture.engine.get(client, a?.id ?? '')).toEqual(done);

    const [next] = await claimOne(client);
    expect(next).toMatchObject({ id: b?.id, attempt: 1 });
    expect((await fixture.ops.complete(next as ClaimedRequest, { ok: true, resultJson: 'null' }, 0)).result).toBe('succeeded');
  });

  it('delivers an expired request again before the other clients waiting in its shard', async () => {
    const [x, y, z] = clientsInShard(fixture.engine, 1, 'redeliver', 3) as [string, string, string];
    const shard = fixture.engine.keys.forClient(x);
    const [x1, x2] = await fixture.engine.enqueue(x, [req('noop'), req('noop')]);
    const [y1] = await fixture.engine.enqueue(y, [req('noop')]);
    const [z1] = await fixture.engine.enqueue(z, [req('noop')]);

    const first = await fixture.ops.claim(shard, 1);
    expect(first.claimed.map((request) => request.id)).toEqual([x1?.id]);
    expect(await expireLease(x, x1?.id ?? '')).toBe('redelivered');

    // The ring held y and z, waiting since before: x's redelivery still goes first.
    const again = await fixture.ops.claim(shard, 1);
    expect(again.claimed.map((request) => [request.id, request.attempt])).toEqual([[x1?.id, 2]]);
    const completed = await fixture.ops.complete(again.claimed[0] as ClaimedRequest, { ok: true, resultJson: 'null' }, 0);
    expect(completed.result).toBe('succeeded');

    // Then the round goes on: y, z, and only then x's next request.
    const rest = await fixture.ops.claim(shard, 3);
    expect(rest.claimed.map((request) => request.id)).toEqual([y1?.id, z1?.id, x2?.id]);
    for (const request of rest.claimed) {
      expect((await fixture.ops.complete(request, { ok: true, resultJson: 'null' }, 0)).result).toBe('succeeded');
    }
  });

  it('starts a client\'s next request in the completing call only when nobody waits in the ring', async () => {
    const [x, y] = clientsInShard(fixture.engine, 0, 'moveon', 2) as [string, string];
    const shard = fixture.engine.keys.forClient(x);
    const [x1, x2, x3] = await fixture.engine.enqueue(x, [req('noop'), req('noop'), req('noop')]);

    // Only x has work: its next request starts at once, under a lease of its own.
    const [first] = (await fixture.ops.claim(shard, 1)).claimed;
    expect(first?.id).toBe(x1?.id);
    const chained = await fixture.ops.complete(first as ClaimedRequest, { ok: true, resultJson: 'null' }, 1);
    expect(chained.result).toBe('succeeded');
    expect(chained.claimed.map((request) => [request.id, request.attempt])).toEqual([[x2?.id, 1]]);
    expect(chained.remaining).toBe(0);
    expect(await fixture.ops.heartbeat(shard, chained.claimed)).toEqual([]);

    // y now waits in the ring: x goes behind it instead of going on.
    const [y1] = await fixture.engine.enqueue(y, [req('noop')]);
    const next = await fixture.ops.complete(chained.claimed[0] as ClaimedRequest, { ok: true, resultJson: 'null' }, 1);
    expect(next.claimed.map((request) => request.id)).toEqual([y1?.id]);
    const last = await fixture.ops.complete(next.claimed[0] as ClaimedRequest, { ok: true, resultJson: 'null' }, 1);
    expect(last.claimed.map((request) => request.id)).toEqual([x3?.id]);

    // Nothing left: the client drains, holding no lease.
    const drained = await fixture.ops.complete(last.claimed[0] as ClaimedRequest, { ok: true, resultJson: 'null' }, 1);
    expect(drained).toMatchObject({ result: 'succeeded', remaining: 0, claimed: [] });
    expect(await fixture.redis.zscore(shard.keys[2] as string, x)).toBeNull();
  });

  it('dead-letters a request whose lease expired maxAttempts times, archives it, and lets the next one go ahead', async () => {
    const client = clientId('deadlease');
    const [a, b] = await fixture.engine.enqueue(client, [req('noop', null, { maxAttempts: 2 }), req('noop')]);

    expect((await claimOne(client)).map((request) => request.attempt)).toEqual([1]);
    expect(await expireLease(client, a?.id ?? '')).toBe('redelivered');
    expect((await claimOne(client)).map((request) => request.attempt)).toEqual([2]);
    expect(await expireLease(client, a?.id ?? '')).toBe('deadLettered');

    const dead = await fixture.engine.get(client, a?.id ?? '');
    expect(dead).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'lease_expired' } });
    expect(dead?.history.map((entry) => [entry.attempt, entry.error.code])).toEqual([
      [1, 'lease_expired'],
      [2, 'lease_expired'],
    ]);

    const [next] = await claimOne(client);
    expect(next).toMatchObject({ id: b?.id, attempt: 1 });
    await fixture.ops.complete(next as ClaimedRequest, { ok: true, resultJson: 'null' }, 0);

    // The archive gets the dead letter with its error and history.
    const archiver = new Archiver(fixture.redis, fixture.pool, fixture.engine.keys.shards, createLogger('silent'), 100);
    await eventually(async () => {
      await archiver.runOnce();
      return (await archivedRows(fixture.pool, [a?.id ?? '', b?.id ?? ''])).length === 2;
    });
    const [row] = await archivedRows(fixture.pool, [a?.id ?? '']);
    expect(row).toMatchObject({ status: 'failed', attempts: 2, max_attempts: 2, error: { code: 'lease_expired' } });
    expect(row?.history?.map((entry) => entry.er.code)).toEqual(['lease_expired', 'lease_expired']);
  });
});

describe('leases with a running worker', () => {
  it('keeps a lease alive by heartbeats for a handler running longer than LEASE_MS', async () => {
    const client = clientId('heartbeat');
    const [a] = await fixture.engine.enqueue(client, [req('sleep', { ms: 2_500 })]);
    await fixture.startWorker();
    await eventually(async () => (await fixture.engine.get(client, a?.id ?? ''))?.status === 'succeeded', 15_000);
    const record = await fixture.engine.get(client, a?.id ?? '');
    // Two and a half leases long, yet never taken back: one attempt, no lease_expired.
    expect(record).toMatchObject({ attempts: 1, history: [] });
    expect((record?.finishedAt ?? 0) - (record?.startedAt ?? 0)).toBeGreaterThanOrEqual(2_500);
  });

  /** Moves a running request's lease deadline into the past and lets recovery take it back. */
  async function takeLeaseAway(client: string, id: string): Promise<void> {
    // As if the worker had been silent for LEASE_MS (a frozen process). Recovery runs here or in
    // the worker; a heartbeat landing in between extends the lease again, so repeat until done.
    const shard = fixture.engine.keys.forClient(client);
    await eventually(async () => {
      // A lease is the client's: one request of a client runs at a time.
      await fixture.redis.zadd(`${shard.base}leases`, 'XX', 0, client);
      await fixture.ops.recoverExpiredLeases(shard);
      return ((await fixture.engine.get(client, id))?.history.length ?? 0) > 0;
    });
  }

  /** A handler that hangs on the first attempt until aborted (recording why) and succeeds later. */
  function hangOnce(log: StartLog, reasons: unknown[]) {
    return handler(async (payload, context) => {
      log.record('w', payload, context);
      if (context.attempt > 1) return { attempt: context.attempt };
      const reason = await untilAborted(context.signal);
      reasons.push(reason);
      throw reason;
    });
  }

  it('aborts the stale attempt when another claimer took the request, and refuses its completion', async () => {
    const client = clientId('lostlease');
    const log = new StartLog();
    const reasons: unknown[] = [];
    const results: string[] = [];
    // One slot, busy with the first attempt: this worker cannot take the redelivery itself.
    await fixture.startWorker(
      { hang: hangOnce(log, reasons) },
      { onFinished: (request, result) => results.push(`${request.attempt}:${result}`) },
      { WORKER_CONCURRENCY: 1 },
    );
    const [a] = await fixture.engine.enqueue(client, [req('hang')]);
    await eventually(() => log.ofRequest(a?.id ?? '').length === 1);

    await takeLeaseAway(client, a?.id ?? '');
    const [second] = await claimOne(client);
    expect(second).toMatchObject({ id: a?.id, attempt: 2 });

    // The worker's next heartbeat finds its lease gone: the handler is aborted, its failure refused.
    await eventually(() => results.length === 1, 10_000);
    expect(results).toEqual(['1:stale']);
    expect(reasons).toEqual([expect.objectContaining({ message: expect.stringContaining('lease lost') })]);
    const running = await fixture.engine.get(client, a?.id ?? '');
    expect(running).toMatchObject({ status: 'running', attempts: 2 });
    expect(running?.history.map((entry) => entry.error.code)).toEqual(['lease_expired']);

    expect((await fixture.ops.complete(second as ClaimedRequest, { ok: true, resultJson: '"second"' }, 0)).result).toBe(
      'succeeded',
    );
    expect(await fixture.engine.get(client, a?.id ?? '')).toMatchObject({ status: 'succeeded', result: 'second' });
  });

  it('stops the stale attempt when the same worker claims the request again', async () => {
    const client = clientId('reclaimed');
    const log = new StartLog();
    const reasons: unknown[] = [];
    const results: string[] = [];
    await fixture.startWorker(
      { hang: hangOnce(log, reasons) },
      { onFinished: (request, result) => results.push(`${request.attempt}:${result}`) },
      // Runs off: b must stay an ordinary queued request (a run would hand it out with a).
      { WORKER_CONCURRENCY: 4, WORKER_RUN_LENGTH: 1 },
    );
    const [a, b] = await fixture.engine.enqueue(client, [req('hang'), req('hang')]);
    await eventually(() => log.ofRequest(a?.id ?? '').length === 1);

    // The worker has free slots, so it takes the redelivery itself, while its first attempt of the
    // same request still runs: that attempt must stop, not run on beside the new one.
    await takeLeaseAway(client, a?.id ?? '');
    await eventually(() => results.length === 2, 10_000);
    expect(results.sort()).toEqual(['1:stale', '2:succeeded']);
    expect(reasons).toEqual([expect.objectContaining({ message: expect.stringContaining('lease lost') })]);
    expect(log.ofRequest(a?.id ?? '').map((event) => event.attempt)).toEqual([1, 2]);
    const record = await fixture.engine.get(client, a?.id ?? '');
    expect(record).toMatchObject({ status: 'succeeded', attempts: 2, result: { attempt: 2 } });
    expect(record?.history.map((entry) => entry.error.code)).toEqual(['lease_expired']);

    // The stale attempt's end did not disturb the worker's bookkeeping: the next request of the
    // client runs (hanging on its first attempt) and is kept alive by heartbeats past LEASE_MS.
    await eventually(() => log.ofRequest(b?.id ?? '').length === 1);
    const bStarted = (await fixture.engine.get(client, b?.id ?? ''))?.startedAt ?? 0;
    await eventually(async () => {
      const now = await fixture.redis.time();
      return Number(now[0]) * 1000 > bStarted + 1_500;
    }, 5_000);
    await fixture.ops.recoverExpiredLeases(fixture.engine.keys.forClient(client));
    expect(await fixture.engine.get(client, b?.id ?? '')).toMatchObject({ status: 'running', attempts: 1, history: [] });
    expect(reasons).toHaveLength(1);
  });
});
