/**
 * Promise 10: graceful shutdown. A stopping worker (worker.stop() in-process, or SIGTERM to a
 * worker process) claims nothing more, lets running handlers finish within SHUTDOWN_GRACE_MS and
 * completes them, then aborts the rest and gives their leases back, so that another worker takes
 * them at once — long before LEASE_MS — without the interrupted attempt counting.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { StartLog, allIn, archivedRows, clientId, handler, records, req, spawnWorker, untilAborted, type WorkerChild } from '../helpers/queue.js';
import { WORKER_HANDLERS_MODULE } from '../helpers/worker-handlers.js';

// A long lease: a request taken over by lease expiry could not come back within the test's waits.
const LEASE_MS = 20_000;
const GRACE_MS = 1_000;

let fixture: EngineFixture;
const children: WorkerChild[] = [];
beforeAll(async () => {
  fixture = await engineFixture({ LEASE_MS: String(LEASE_MS), HEARTBEAT_MS: '1000', SHUTDOWN_GRACE_MS: String(GRACE_MS) });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await Promise.all(children.map((child) => child.stop(5_000)));
  await fixture.cleanup();
});

/** The second worker's `hang`: it finishes at once, recording which attempt it ran. */
function quickHang(log: StartLog) {
  return handler((payload, context) => {
    log.record('second', payload, context);
    return { attempt: context.attempt };
  });
}

async function running(client: string, id: string): Promise<RequestRecord> {
  await eventually(async () => (await fixture.engine.get(client, id))?.status === 'running', 30_000);
  return (await fixture.engine.get(client, id)) as RequestRecord;
}

describe('graceful shutdown', () => {
  it('finishes handlers within the grace, releases the rest to another worker at once, and claims nothing more', async () => {
    const firstStarts: string[] = [];
    const finishedByFirst: string[] = [];
    const abortReasons: unknown[] = [];
    // `held` runs until the test lets it go, so it is surely still running when the shutdown
    // begins, however slow the machine (a timed sleep could end first on a loaded box).
    let letGo: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const first = await fixture.startWorker(
      {
        held: handler(async () => {
          await released;
          return { held: true };
        }),
        hang: handler(async (_payload, context) => {
          const reason = await untilAborted(context.signal);
          abortReasons.push(reason);
          throw reason;
        }),
      },
      {
        onStarted: (request) => firstStarts.push(request.id),
        onFinished: (request, result) => finishedByFirst.push(`${request.id}:${result}`),
      },
    );
    const p = clientId('finishes');
    const q = clientId('released');
    const [p0, p1] = await fixture.engine.enqueue(p, [req('held'), req('sleep', { ms: 10 })]);
    const [q0, q1] = await fixture.engine.enqueue(q, [req('hang'), req('sleep', { ms: 10 })]);
    const hangStart = await running(q, q0?.id ?? '');
    await running(p, p0?.id ?? '');

    const stopping = first.stop();
    const startsBeforeStop = firstStarts.length;
    // `held` was still running when the shutdown began; it will be completed by the stopping worker.
    expect((await fixture.engine.get(p, p0?.id ?? ''))?.status).toBe('running');
    letGo();
    // A second worker comes up during the grace period, ready to take what the first gives back.
    const handledBySecond = new StartLog();
    const secondStarts: { id: string; attempt: number }[] = [];
    await fixture.startWorker(
      { hang: quickHang(handledBySecond) },
      { onStarted: (request) => secondStarts.push({ id: request.id, attempt: request.attempt }) },
    );
    await stopping;

    expect(finishedByFirst).toContain(`${p0?.id}:succeeded`);
    expect(await fixture.engine.get(p, p0?.id ?? '')).toMatchObject({ status: 'succeeded', attempts: 1, result: { held: true } });
    // stop() flushed the archive: the finished request is in PostgreSQL already.
    expect((await archivedRows(fixture.pool, [p0?.id ?? '']))[0]).toMatchObject({ status: 'succeeded', attempts: 1 });
    // The hanging handler was aborted for the shutdown; its completion was not sent.
    expect(abortReasons).toEqual([expect.objectContaining({ message: 'worker shutting down' })]);
    expect(finishedByFirst.some((entry) => entry.startsWith(`${q0?.id}:`))).toBe(false);

    // The released request is taken by the second worker well before its lease could have run
    // out, as attempt 1 again: the interrupted attempt does not count.
    await eventually(() => allIn(fixture.engine, q, [q0?.id ?? '', q1?.id ?? ''], ['succeeded']), LEASE_MS / 2);
    const [again, after] = await records(fixture.engine, q, [q0?.id ?? '', q1?.id ?? '']);
    expect(again).toMatchObject({ attempts: 1, history: [], result: { attempt: 1 } });
    expect(secondStarts.filter((start) => start.id === q0?.id)).toEqual([{ id: q0?.id, attempt: 1 }]);
    expect(handledBySecond.ofRequest(q0?.id ?? '').map((event) => event.attempt)).toEqual([1]);
    expect((again?.startedAt ?? 0) - (hangStart.startedAt ?? 0)).toBeLessThan(LEASE_MS);
    expect(after?.startedAt).toBeGreaterThanOrEqual(again?.finishedAt ?? Number.POSITIVE_INFINITY);

    // The stopping worker claimed nothing more: the clients' next requests ran on the second one.
    expect(firstStarts.slice(startsBeforeStop)).toEqual([]);
    await eventually(() => allIn(fixture.engine, p, [p1?.id ?? ''], ['succeeded']));
    expect(secondStarts.map((start) => start.id)).toContain(p1?.id);
    expect(firstStarts).not.toContain(p1?.id);
    expect(firstStarts).not.toContain(q1?.id);
  });

  it('does the same for a worker process on SIGTERM, and the process exits 0', async () => {
    const worker = spawnWorker(fixture.config, {
      HANDLERS: WORKER_HANDLERS_MODULE,
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      WORKER_CONCURRENCY: '4',
    });
    children.push(worker);
    const r = clientId('sigterm-finishes');
    const s = clientId('sigterm-released');
    const [r0] = await fixture.engine.enqueue(r, [req('sleep', { ms: 300 })]);
    const [s0, s1] = await fixture.engine.enqueue(s, [req('hang'), req('sleep', { ms: 10 })]);
    await eventually(async () => {
      worker.assertRunning();
      return (await fixture.engine.get(s, s0?.id ?? ''))?.status === 'running';
    }, 30_000);
    const hangStart = (await fixture.engine.get(s, s0?.id ?? '')) as RequestRecord;
    await running(r, r0?.id ?? '');

    worker.child.kill('SIGTERM');
    const secondLog = new StartLog();
    await fixture.startWorker({ hang: quickHang(secondLog) });
    const exit = await worker.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });

    expect(await fixture.engine.get(r, r0?.id ?? '')).toMatchObject({ status: 'succeeded', attempts: 1 });
    await eventually(() => allIn(fixture.engine, s, [s0?.id ?? '', s1?.id ?? ''], ['succeeded']), LEASE_MS / 2);
    const [again] = await records(fixture.engine, s, [s0?.id ?? '']);
    expect(again).toMatchObject({ attempts: 1, history: [], result: { attempt: 1 } });
    expect(secondLog.ofRequest(s0?.id ?? '').map((event) => event.attempt)).toEqual([1]);
    expect((again?.startedAt ?? 0) - (hangStart.startedAt ?? 0)).toBeLessThan(LEASE_MS);
  });
});
