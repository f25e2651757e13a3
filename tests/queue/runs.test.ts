/**
 * Runs (claim_heads.lua): with no other client waiting, a claim hands a worker a run of its
 * client's next requests, which it runs one after another without a round trip between them. Each
 * completion names the run's next request, which Redis then leases under the fence the worker
 * already holds. Requests handed out in a run cannot be cancelled; a run ends at a failure, at a
 * release, or when its lease expires, and then every request it held counts an attempt. Most of
 * these tests drive WorkerOps by hand (no worker running).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ShardKeys } from '../../src/queue/keys.js';
import { WorkerOps, type AttemptOutcome, type ClaimedRequest, type Completion } from '../../src/queue/worker-ops.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { StartLog, allIn, clientsInShard, handler, records, req, backlogCountOfShard } from '../helpers/queue.js';

// A fixture (key prefix) per test: what one test leaves in a ready ring must not wait ahead of the
// next test's client, which would then not be alone.
let fixture: EngineFixture;
beforeEach(async () => {
  fixture = await engineFixture({ LEASE_MS: '1000', HEARTBEAT_MS: '200', SHUTDOWN_GRACE_MS: '200' });
});
afterEach(async () => {
  await fixture.cleanup();
});

const OK: AttemptOutcome = { ok: true, resultJson: '{"done":true}' };
const RETRY: AttemptOutcome = { ok: false, error: { message: 'try later' }, retryDelayMs: 60_000 };

/** A client of its own in shard 0, so that nobody else waits in the ring it is claimed from. */
function soleClient(label: string): { client: string; shard: ShardKeys } {
  const [client] = clientsInShard(fixture.engine, 0, label);
  return { client: client as string, shard: fixture.engine.keys.shards[0] as ShardKeys };
}

async function enqueueNumbered(client: string, count: number, maxAttempts: (n: number) => number = () => 3): Promise<string[]> {
  const requests = Array.from({ length: count }, (_, n) => req('noop', { n }, { maxAttempts: maxAttempts(n) }));
  return (await fixture.engine.enqueue(client, requests)).map((entry) => entry.id);
}

async function claimRun(shard: ShardKeys, runMax: number): Promise<ClaimedRequest> {
  const { claimed } = await fixture.ops.claim(shard, 1, runMax);
  expect(claimed).toHaveLength(1);
  return claimed[0] as ClaimedRequest;
}

async function complete(shard: ShardKeys, completions: Completion[]): Promise<string[]> {
  return (await fixture.ops.completeMany(shard, completions, 0)).results;
}

async function runsKeyExists(shard: ShardKeys): Promise<boolean> {
  return (await fixture.redis.exists(`${shard.base}runs`)) === 1;
}

async function expireLeases(shard: ShardKeys, client: string): Promise<{ redelivered: string[]; deadLettered: string[] }> {
  await fixture.redis.zadd(`${shard.base}leases`, 'XX', 0, client);
  return fixture.ops.recoverExpiredLeases(shard);
}

describe('a run', () => {
  it('comes with a claim when nobody else waits, and each completion leases the next request', async () => {
    const { client, shard } = soleClient('run');
    const ids = await enqueueNumbered(client, 5);
    const head = await claimRun(shard, 3);
    expect(head).toMatchObject({ id: ids[0], attempt: 1, fence: '1' });
    const [second, third] = head.run ?? [];
    expect(head.run?.map((member) => [member.id, member.attempt, member.fence, member.payloadJson])).toEqual([
      [ids[1], 1, '1', '{"n":1}'],
      [ids[2], 1, '1', '{"n":2}'],
    ]);

    // Handed out, not started: queued to anyone who looks, and not cancellable.
    expect(await fixture.engine.get(client, ids[1] as string)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await fixture.engine.cancel(client, ids[1] as string)).outcome).toBe('not_cancellable');
    expect((await fixture.engine.cancel(client, ids[2] as string)).outcome).toBe('not_cancellable');
    // Beyond the run, the queue is as ever.
    expect((await fixture.engine.cancel(client, ids[4] as string)).outcome).toBe('cancelled');

    expect(await complete(shard, [{ request: head, outcome: OK, next: ids[1] }])).toEqual(['succeeded']);
    expect(await fixture.engine.get(client, ids[1] as string)).toMatchObject({ status: 'running', attempts: 1 });
    // The lease is the worker's, under the fence it was handed: heartbeats hold it.
    expect(await fixture.ops.heartbeat(shard, [second as ClaimedRequest])).toEqual([]);

    expect(
      await complete(shard, [
        { request: second as ClaimedRequest, outcome: OK, next: ids[2] },
        { request: third as ClaimedRequest, outcome: OK, next: '.' },
      ]),
    ).toEqual(['succeeded', 'succeeded']);
    // The run is over: its client's next request waits in the ring again, cancellable.
    expect(await runsKeyExists(shard)).toBe(false);
    expect(await fixture.engine.get(client, ids[3] as string)).toMatchObject({ status: 'queued', position: 0 });
    expect((await fixture.engine.cancel(client, ids[3] as string)).outcome).toBe('cancelled');
    const done = await records(fixture.engine, client, ids.slice(0, 3));
    expect(done.map((record) => [record.status, record.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 1],
      ['succeeded', 1],
    ]);
    // Each started when the one before it ended, as Redis saw it.
    expect((done[1]?.startedAt ?? 0) >= (done[0]?.finishedAt ?? Infinity)).toBe(true);
  });

  it('is not handed out while another client waits, nor past a request that may run only once', async () => {
    const [busy, waiting] = clientsInShard(fixture.engine, 0, 'pair', 2) as [string, string];
    const shard = fixture.engine.keys.shards[0] as ShardKeys;
    const busyIds = await enqueueNumbered(busy, 4, (n) => (n === 2 ? 1 : 3));
    await enqueueNumbered(waiting, 1);
    const first = await claimRun(shard, 8);
    expect(first).toMatchObject({ clientId: busy, id: busyIds[0] });
    expect(first.run).toBeUndefined();
    const second = await claimRun(shard, 8);
    expect(second.clientId).toBe(waiting);
    expect(second.run).toBeUndefined();
    await complete(shard, [
      { request: first, outcome: OK },
      { request: second, outcome: OK },
    ]);

    // Now alone: the run stops before the request with maxAttempts 1.
    const next = await claimRun(shard, 8);
    expect(next.id).toBe(busyIds[1]);
    expect(next.run).toBeUndefined();
    expect(await complete(shard, [{ request: next, outcome: OK }])).toEqual(['succeeded']);
    const last = await claimRun(shard, 8);
    expect(last.id).toBe(busyIds[2]);
    expect(last.run?.map((member) => member.id)).toEqual([busyIds[3]]);
    await complete(shard, [
      { request: last, outcome: OK, next: busyIds[3] },
      { request: last.run?.[0] as ClaimedRequest, outcome: OK, next: '.' },
    ]);
    expect(await allIn(fixture.engine, busy, busyIds, ['succeeded'])).toBe(true);
    expect(await runsKeyExists(shard)).toBe(false);
  });

  it('ends at a failure and at a release, leaving the rest queued and cancellable', async () => {
    const { client, shard } = soleClient('ends');
    const ids = await enqueueNumbered(client, 3);
    const head = await claimRun(shard, 3);
    expect(await complete(shard, [{ request: head, outcome: RETRY, next: '.' }])).toEqual(['retrying']);
    expect(await runsKeyExists(shard)).toBe(false);
    expect((await fixture.engine.cancel(client, ids[2] as string)).outcome).toBe('cancelled');

    const { client: other } = soleClient('released');
    const otherIds = await enqueueNumbered(other, 3);
    const otherHead = await claimRun(shard, 3);
    expect(otherHead.run?.map((member) => member.id)).toEqual(otherIds.slice(1));
    expect(await fixture.ops.releaseLeases(shard, [otherHead])).toEqual([otherIds[0]]);
    expect(await runsKeyExists(shard)).toBe(false);
    expect(await fixture.engine.get(other, otherIds[0] as string)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await fixture.engine.cancel(other, otherIds[2] as string)).outcome).toBe('cancelled');
  });

  it('whose lease expires counts an attempt for every request it held, keeps their order, and dead-letters one out of attempts', async () => {
    const { client, shard } = soleClient('crashed');
    const ids = await enqueueNumbered(client, 4, (n) => (n === 2 ? 2 : 3));
    const head = await claimRun(shard, 3);
    expect(await complete(shard, [{ request: head, outcome: OK, next: ids[1] }])).toEqual(['succeeded']);

    // The worker dies while running the second request; it may have gone on to the third.
    const first = await expireLeases(shard, client);
    expect(first).toEqual({ redelivered: [ids[1]], deadLettered: [] });
    expect(await runsKeyExists(shard)).toBe(false);
    const third = await fixture.engine.get(client, ids[2] as string);
    expect(third).toMatchObject({ status: 'queued', attempts: 1, position: 1 });
    expect(third?.history).toEqual([expect.objectContaining({ attempt: 1, error: expect.objectContaining({ code: 'lease_expired' }) })]);
    // Redis never saw it start: the counted attempt starts and ends at the recovery, after the
    // head's, so the client's attempts stay in order on Redis's clock.
    const headAttempt = (await fixture.engine.get(client, ids[1] as string))?.history[0];
    expect(third?.history[0]?.startedAt).toBe(third?.history[0]?.finishedAt);
    expect(third?.history[0]?.startedAt).toBeGreaterThanOrEqual(headAttempt?.finishedAt ?? Infinity);
    expect(await fixture.engine.get(client, ids[3] as string)).toMatchObject({ status: 'queued', attempts: 0 });

    // Delivered again in order, each as its next attempt, under a new fence.
    const again = await claimRun(shard, 3);
    expect(again).toMatchObject({ id: ids[1], attempt: 2, fence: '2' });
    expect(again.run?.map((member) => [member.id, member.attempt, member.fence])).toEqual([
      [ids[2], 2, '2'],
      [ids[3], 1, '1'],
    ]);
    // A second crash: the third request has used both its attempts and is dead-lettered in place.
    const second = await expireLeases(shard, client);
    expect(second).toEqual({ redelivered: [ids[1]], deadLettered: [ids[2]] });
    expect(await fixture.engine.get(client, ids[2] as string)).toMatchObject({ status: 'failed', attempts: 2 });
    expect(await fixture.engine.get(client, ids[3] as string)).toMatchObject({ status: 'queued', attempts: 1, position: 1 });

    const last = await claimRun(shard, 3);
    expect(last).toMatchObject({ id: ids[1], attempt: 3 });
    expect(last.run?.map((member) => [member.id, member.attempt])).toEqual([[ids[3], 2]]);
    expect(
      await complete(shard, [
        { request: last, outcome: OK, next: ids[3] },
        { request: last.run?.[0] as ClaimedRequest, outcome: OK, next: '.' },
      ]),
    ).toEqual(['succeeded', 'succeeded']);
    expect((await records(fixture.engine, client, ids)).map((record) => [record.status, record.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 3],
      ['failed', 2],
      ['succeeded', 2],
    ]);
    // Every request that joined or left the backlog, through claims, recoveries and a dead letter
    // in place, was counted.
    // (Read again until two reads agree: another test's worker may be busy in the same shard.)
    await eventually(async () => {
      const { counted, held } = await backlogCountOfShard(fixture.engine, client);
      return counted === held;
    }, 3_000);
  });
});

describe('turns', () => {
  /** Worker operations whose completions let a client start up to `turnLength` requests in a row. */
  const opsWithTurns = (turnLength: number) =>
    new WorkerOps(fixture.engine, { leaseMs: 30_000, retentionMs: 60_000, retentionCount: 100, turnLength });

  it('of 3: a client whose request ends starts its next one in the same call, 3 in a row while others wait, then the ring moves on', async () => {
    const [big, ...small] = clientsInShard(fixture.engine, 0, 'turns', 3) as [string, string, string];
    const shard = fixture.engine.keys.shards[0] as ShardKeys;
    const bigIds = await enqueueNumbered(big, 5);
    for (const client of small) await fixture.engine.enqueue(client, [req('noop')]);
    const ops = opsWithTurns(3);

    // One slot: each completion refills it in the same call.
    let current = (await ops.claim(shard, 1)).claimed[0] as ClaimedRequest;
    const started = [current];
    for (let n = 0; n < 6; n += 1) {
      const reply = await ops.completeMany(shard, [{ request: current, outcome: OK }], 1);
      expect(reply.results).toEqual(['succeeded']);
      current = reply.claimed[0] as ClaimedRequest;
      started.push(current);
    }
    expect(started.map((request) => request.clientId)).toEqual([big, big, big, ...small, big, big]);
    expect(started.filter((request) => request.clientId === big).map((request) => request.id)).toEqual(bigIds);
    // The turn's count is gone once the client drained.
    await ops.completeMany(shard, [{ request: current, outcome: OK }], 0);
    expect(await fixture.redis.hexists(`${shard.base}turns`, big)).toBe(0);
  });

  it('of 1 are strict round-robin: the ring moves on after every request', async () => {
    const [first, second] = clientsInShard(fixture.engine, 0, 'strict', 2) as [string, string];
    const shard = fixture.engine.keys.shards[0] as ShardKeys;
    await enqueueNumbered(first, 2);
    await enqueueNumbered(second, 2);
    const ops = opsWithTurns(1);
    let current = (await ops.claim(shard, 1)).claimed[0] as ClaimedRequest;
    const started = [current];
    for (let n = 0; n < 3; n += 1) {
      current = (await ops.completeMany(shard, [{ request: current, outcome: OK }], 1)).claimed[0] as ClaimedRequest;
      started.push(current);
    }
    expect(started.map((request) => request.clientId)).toEqual([first, second, first, second]);
    expect(await fixture.redis.exists(`${shard.base}turns`)).toBe(0);
  });
});

describe('a worker running runs', () => {
  it('runs a lone client in order, one at a time, and a shutdown mid-run loses and counts nothing', async () => {
    const { client } = soleClient('worker');
    const log = new StartLog();
    let runs = 0;
    const slow = handler(async (payload, context) => {
      log.record('w', payload, context);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { n: (payload as { n: number }).n };
    });
    const hooks = {
      onStarted: (request: ClaimedRequest) => {
        if (request.run && request.run.length > 0) runs += 1;
      },
    };
    const requests = Array.from({ length: 40 }, (_, n) => req('slow', { n }));
    const ids = (await fixture.engine.enqueue(client, requests)).map((entry) => entry.id);
    const worker = await fixture.startWorker({ slow }, hooks, { WORKER_CONCURRENCY: 4, WORKER_RUN_LENGTH: 8 });
    await eventually(() => log.events.length >= 12);
    await worker.stop();

    const midway = await records(fixture.engine, client, ids);
    expect(midway.every((record) => record.status === 'succeeded' || (record.status === 'queued' && record.attempts === 0))).toBe(true);
    expect(await runsKeyExists(fixture.engine.keys.forClient(client))).toBe(false);

    await fixture.startWorker({ slow }, hooks, { WORKER_CONCURRENCY: 4, WORKER_RUN_LENGTH: 8 });
    await eventually(() => allIn(fixture.engine, client, ids, ['succeeded']), 20_000);
    expect(runs).toBeGreaterThan(1);
    const done = await records(fixture.engine, client, ids);
    expect(done.map((record) => record.attempts)).toEqual(ids.map(() => 1));
    expect(log.events.map((event) => (event.payload as { n: number }).n)).toEqual(ids.map((_, n) => n));
  });
});
