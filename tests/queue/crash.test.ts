/**
 * Promise 3 with real processes: a worker process killed (SIGKILL) in the middle of a request
 * loses its lease, and the request is delivered again first, counted as an attempt, with its
 * client's later requests after it; a worker process frozen (SIGSTOP) past its lease comes back to
 * find its completion refused, the record untouched, and does not go on with the run it held.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { checkOrder, engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { waitForLine } from '../helpers/process.js';
import { allIn, archivedRows, clientId, records, req, spawnWorker, type WorkerChild } from '../helpers/queue.js';

let fixture: EngineFixture;
const children: WorkerChild[] = [];
beforeAll(async () => {
  // Short leases so a dead worker's request comes back within seconds.
  fixture = await engineFixture({ LEASE_MS: '2000', HEARTBEAT_MS: '500', SHUTDOWN_GRACE_MS: '500' });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  for (const child of children) child.child.kill('SIGCONT');
  await Promise.all(children.map((child) => child.stop(5_000)));
  await fixture.cleanup();
});

function startProcess(env: Record<string, string> = {}): WorkerChild {
  const worker = spawnWorker(fixture.config, { WORKER_CONCURRENCY: '4', SHUTDOWN_GRACE_MS: '500', ...env });
  children.push(worker);
  return worker;
}

async function waitUntilRunning(worker: WorkerChild, client: string, id: string): Promise<RequestRecord> {
  await eventually(async () => {
    worker.assertRunning();
    return (await fixture.engine.get(client, id))?.status === 'running';
  }, 30_000);
  return (await fixture.engine.get(client, id)) as RequestRecord;
}

describe('a worker process that dies', () => {
  it('has its running request delivered again first, counted, in order, nothing lost', async () => {
    const x = clientId('killed');
    const y = clientId('bystander');
    const xs = await fixture.engine.enqueue(x, [
      req('sleep', { ms: 3_000 }),
      req('sleep', { ms: 10 }),
      req('sleep', { ms: 10 }),
      req('sleep', { ms: 10 }),
    ]);
    const ys = await fixture.engine.enqueue(y, [req('sleep', { ms: 10 }), req('sleep', { ms: 10 })]);
    const xIds = xs.map((entry) => entry.id);
    const yIds = ys.map((entry) => entry.id);

    // Runs off: the requests behind the running one stay plainly queued (a run's crash is below).
    const doomed = startProcess({ WORKER_RUN_LENGTH: '1' });
    const firstAttempt = await waitUntilRunning(doomed, x, xIds[0] as string);
    doomed.child.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');

    // Killed mid-request: the request still looks running (its lease has not expired yet) and
    // nothing behind it started.
    expect(await fixture.engine.get(x, xIds[0] as string)).toMatchObject({ status: 'running', attempts: 1 });
    expect(await fixture.engine.get(x, xIds[1] as string)).toMatchObject({ status: 'queued', attempts: 0 });

    const starts: { id: string; attempt: number }[] = [];
    await fixture.startWorker({}, { onStarted: (request) => starts.push({ id: request.id, attempt: request.attempt }) });
    await eventually(() => allIn(fixture.engine, x, xIds, ['succeeded']), 20_000);
    await eventually(() => allIn(fixture.engine, y, yIds, ['succeeded']), 20_000);

    const [again, ...rest] = await records(fixture.engine, x, xIds);
    expect(again).toMatchObject({ attempts: 2, result: { sleptMs: 3_000 } });
    expect(again?.history).toEqual([
      expect.objectContaining({ attempt: 1, startedAt: firstAttempt.startedAt, error: expect.objectContaining({ code: 'lease_expired' }) }),
    ]);
    // The expired lease was noticed no earlier than LEASE_MS after the last heartbeat, i.e. after the start.
    expect((again?.history[0]?.finishedAt ?? 0) - (firstAttempt.startedAt ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(again?.startedAt).toBeGreaterThanOrEqual(again?.history[0]?.finishedAt ?? Number.POSITIVE_INFINITY);
    expect(rest.map((record) => record.attempts)).toEqual([1, 1, 1]);
    // The new worker started the redelivery first of the client's requests, then the rest in order.
    expect(starts.filter((start) => xIds.includes(start.id))).toEqual([
      { id: xIds[0], attempt: 2 },
      ...xIds.slice(1).map((id) => ({ id, attempt: 1 })),
    ]);
    expect(checkOrder(new Map([[x, [again as RequestRecord, ...rest]]]))).toEqual({
      orderViolations: [],
      overlapViolations: [],
    });

    // Nothing lost: all six are archived, the redelivered one with both attempts.
    await eventually(async () => (await archivedRows(fixture.pool, [...xIds, ...yIds])).length === 6, 10_000);
    const [row] = await archivedRows(fixture.pool, [xIds[0] as string]);
    expect(row).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(row?.history?.map((entry) => entry.er.code)).toEqual(['lease_expired']);
  }, 60_000);

  it('refuses the late completion of a frozen worker process whose request another worker finished', async () => {
    const z = clientId('frozen');
    const [a, b] = await fixture.engine.enqueue(z, [req('sleep', { ms: 3_000 }), req('sleep', { ms: 10 })]);

    // Runs on: a and b go out together as a run.
    const frozen = startProcess({ WORKER_RUN_LENGTH: '64' });
    await waitUntilRunning(frozen, z, a?.id ?? '');
    frozen.child.kill('SIGSTOP');

    await fixture.startWorker();
    await eventually(() => allIn(fixture.engine, z, [a?.id ?? '', b?.id ?? ''], ['succeeded']), 20_000);
    const finished = await fixture.engine.get(z, a?.id ?? '');
    expect(finished).toMatchObject({ attempts: 2, history: [expect.objectContaining({ error: expect.objectContaining({ code: 'lease_expired' }) })] });

    // Thawed, the old worker ends its attempt (finished or aborted): refused as stale.
    const refused = waitForLine(frozen.child, (line) => line.includes('completion refused'));
    frozen.child.kill('SIGCONT');
    await refused;
    expect(await fixture.engine.get(z, a?.id ?? '')).toEqual(finished);
    // b came with a in a run: the frozen worker might have started it, so it counts an attempt.
    const second = await fixture.engine.get(z, b?.id ?? '');
    expect(second).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(second?.history.map((entry) => entry.error.code)).toEqual(['lease_expired']);

    const exit = await frozen.stop(5_000);
    expect(exit.code).toBe(0);
    // Thawed with its lease long gone, the old worker did not go on to b (had it, b's completion
    // would have been refused too, by the time it stopped).
    expect(frozen.output()).not.toContain(b?.id ?? '');
  }, 60_000);
});
