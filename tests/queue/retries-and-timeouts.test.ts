/**
 * Promises 4 and 5: retries with exponential backoff and jitter under a per-request maxAttempts,
 * the client's queue waiting while its head waits for a retry, dead-lettering after the last
 * attempt (the next request then goes ahead); per-request timeouts that abort the handler through
 * its AbortSignal and count as failed attempts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { retryDelayMs } from '../../src/worker/backoff.js';
import { PermanentError } from '../../src/worker/handlers/types.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { StartLog, allIn, archivedRows, clientId, handler, records, req, untilAborted } from '../helpers/queue.js';

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 300;

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture({
    RETRY_BASE_MS: String(RETRY_BASE_MS),
    RETRY_MAX_MS: String(RETRY_MAX_MS),
    SHUTDOWN_GRACE_MS: '200',
  });
});
afterEach(async () => {
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await fixture.cleanup();
});

/** Fails attempts 1..payload.fail with "fail <attempt>", then returns {attempt}. */
function flaky(log: StartLog) {
  return handler((payload, context) => {
    log.record('w', payload, context);
    const { fail } = payload as { fail: number };
    if (context.attempt <= fail) throw new Error(`fail ${context.attempt}`);
    return { attempt: context.attempt };
  });
}

interface Retry {
  id: string;
  attempt: number;
  delayMs: number;
}

async function settled(client: string, ids: string[], timeoutMs = 15_000): Promise<RequestRecord[]> {
  await eventually(() => allIn(fixture.engine, client, ids, ['succeeded', 'failed', 'cancelled']), timeoutMs);
  return records(fixture.engine, client, ids);
}

describe('backoff', () => {
  it('doubles per attempt up to the maximum, keeping half and jittering the other half', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, 100, 1_000, () => 0))).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, 100, 1_000, () => 1))).toEqual([100, 200, 400, 800]);
    expect(retryDelayMs(10, 100, 1_000, () => 0.5)).toBe(750);
    expect(retryDelayMs(1, 0, 1_000, () => 0.7)).toBe(0);
  });
});

describe('retries', () => {
  it('retries with exponential backoff and jitter, then succeeds', async () => {
    const log = new StartLog();
    const retries: Retry[] = [];
    await fixture.startWorker({ flaky: flaky(log) }, {
      onFinished: (request, result, outcome) => {
        if (result === 'retrying' && !outcome.ok) retries.push({ id: request.id, attempt: request.attempt, delayMs: outcome.retryDelayMs });
      },
    });
    const clients = Array.from({ length: 6 }, () => clientId('backoff'));
    const ids: string[] = [];
    for (const client of clients) {
      const [accepted] = await fixture.engine.enqueue(client, [req('flaky', { fail: 3 }, { maxAttempts: 5 })]);
      ids.push(accepted?.id ?? '');
    }

    for (const [n, client] of clients.entries()) {
      const id = ids[n] as string;
      const [record] = await settled(client, [id]);
      expect(record).toMatchObject({ status: 'succeeded', attempts: 4, maxAttempts: 5, result: { attempt: 4 } });
      expect(record?.history.map((entry) => [entry.attempt, entry.error.message])).toEqual([
        [1, 'fail 1'],
        [2, 'fail 2'],
        [3, 'fail 3'],
      ]);
      const mine = retries.filter((retry) => retry.id === id).sort((x, y) => x.attempt - y.attempt);
      expect(mine.map((retry) => retry.attempt)).toEqual([1, 2, 3]);
      const starts = [...(record?.history.slice(1).map((entry) => entry.startedAt) ?? []), record?.startedAt ?? 0];
      mine.forEach((retry, k) => {
        const exponential = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (retry.attempt - 1));
        expect(retry.delayMs).toBeGreaterThanOrEqual(exponential / 2);
        expect(retry.delayMs).toBeLessThanOrEqual(exponential);
        // The next attempt did not start before its backoff was over (Redis clock on both sides).
        const failedAt = record?.history[k]?.finishedAt ?? 0;
        expect((starts[k] ?? 0) - failedAt).toBeGreaterThanOrEqual(retry.delayMs);
      });
    }
    // Jitter: the first retries of six requests did not all wait the same time.
    const firstDelays = retries.filter((retry) => retry.attempt === 1).map((retry) => retry.delayMs);
    expect(firstDelays).toHaveLength(6);
    expect(new Set(firstDelays).size).toBeGreaterThan(1);
  });

  it('holds the client’s queue while its head waits for a retry, and only that client’s', async () => {
    const log = new StartLog();
    // A long backoff (1–2 s) leaves time to look at the waiting state and to run another client.
    await fixture.startWorker({ flaky: flaky(log) }, {}, { RETRY_BASE_MS: 2_000, RETRY_MAX_MS: 2_000 });
    const x = clientId('waiting');
    const [a, b] = await fixture.engine.enqueue(x, [req('flaky', { fail: 1 }), req('flaky', { fail: 0 })]);
    await eventually(async () => (await fixture.engine.get(x, a?.id ?? ''))?.retryAt !== undefined);

    const waiting = await fixture.engine.get(x, a?.id ?? '');
    expect(waiting).toMatchObject({ status: 'queued', attempts: 1, position: 0 });
    expect(await fixture.engine.get(x, b?.id ?? '')).toMatchObject({ status: 'queued', position: 1, attempts: 0 });
    expect(await fixture.engine.stats(x)).toMatchObject({ pending: 2, running: 0 });

    // Another client is served during the wait.
    const y = clientId('other');
    const [c] = await fixture.engine.enqueue(y, [req('flaky', { fail: 0 })]);
    await settled(y, [c?.id ?? '']);
    const [aWhileC, bWhileC] = await records(fixture.engine, x, [a?.id ?? '', b?.id ?? '']);
    expect(aWhileC).toMatchObject({ status: 'queued', attempts: 1 });
    expect(bWhileC).toMatchObject({ status: 'queued', attempts: 0 });
    expect(log.ofRequest(b?.id ?? '')).toEqual([]);

    const [aDone, bDone] = await settled(x, [a?.id ?? '', b?.id ?? '']);
    expect(aDone).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(aDone?.startedAt).toBeGreaterThanOrEqual(waiting?.retryAt ?? Number.POSITIVE_INFINITY);
    expect(bDone?.status).toBe('succeeded');
    expect(bDone?.startedAt).toBeGreaterThanOrEqual(aDone?.finishedAt ?? Number.POSITIVE_INFINITY);
    expect(log.ofClient(x).map((event) => [event.id, event.attempt])).toEqual([
      [a?.id, 1],
      [a?.id, 2],
      [b?.id, 1],
    ]);
  });

  it('dead-letters a request after its last attempt, archives it, and runs the next request', async () => {
    const log = new StartLog();
    await fixture.startWorker({ flaky: flaky(log) });
    const client = clientId('deadletter');
    const [a, b] = await fixture.engine.enqueue(client, [
      req('flaky', { fail: 99 }, { maxAttempts: 3 }),
      req('flaky', { fail: 0 }),
    ]);
    const [dead, next] = await settled(client, [a?.id ?? '', b?.id ?? '']);
    expect(dead).toMatchObject({ status: 'failed', attempts: 3, error: { message: 'fail 3' } });
    expect(dead?.history.map((entry) => entry.error.message)).toEqual(['fail 1', 'fail 2', 'fail 3']);
    expect(next).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(next?.startedAt).toBeGreaterThanOrEqual(dead?.finishedAt ?? Number.POSITIVE_INFINITY);
    expect(log.ofRequest(a?.id ?? '')).toHaveLength(3);

    await eventually(async () => (await archivedRows(fixture.pool, [a?.id ?? '', b?.id ?? ''])).length === 2);
    const [row] = await archivedRows(fixture.pool, [a?.id ?? '']);
    expect(row).toMatchObject({ status: 'failed', attempts: 3, max_attempts: 3, error: { message: 'fail 3' } });
    expect(row?.history?.map((entry) => entry.er.message)).toEqual(['fail 1', 'fail 2', 'fail 3']);
    expect(row?.finished_ms).toBe(dead?.finishedAt);
  });

  it('honours each request’s own maxAttempts', async () => {
    const log = new StartLog();
    await fixture.startWorker({ flaky: flaky(log) });
    const client = clientId('maxattempts');
    const accepted = await fixture.engine.enqueue(client, [
      req('flaky', { fail: 1 }, { maxAttempts: 1 }),
      req('flaky', { fail: 3 }, { maxAttempts: 4 }),
      req('flaky', { fail: 3 }, { maxAttempts: 3 }),
    ]);
    const results = await settled(
      client,
      accepted.map((entry) => entry.id),
    );
    expect(results.map((record) => [record.status, record.attempts, record.history.length])).toEqual([
      ['failed', 1, 1],
      ['succeeded', 4, 3],
      ['failed', 3, 3],
    ]);
  });

  it('does not retry a permanent error', async () => {
    const log = new StartLog();
    const permanent = handler((payload, context) => {
      log.record('w', payload, context);
      throw new PermanentError('will never work', 'bad_input');
    });
    await fixture.startWorker({ permanent });
    const client = clientId('permanent');
    const [a] = await fixture.engine.enqueue(client, [req('permanent', null, { maxAttempts: 5 })]);
    const [record] = await settled(client, [a?.id ?? '']);
    expect(record).toMatchObject({ status: 'failed', attempts: 1, error: { message: 'will never work', code: 'bad_input' } });
    expect(log.ofRequest(a?.id ?? '')).toHaveLength(1);
  });
});

describe('timeouts', () => {
  it('aborts a handler through its signal at the request’s timeout and fails the attempt', async () => {
    const reasons = new Map<string, unknown>();
    const hang = handler(async (_payload, context) => {
      const reason = await untilAborted(context.signal);
      reasons.set(context.requestId, reason);
      throw reason;
    });
    await fixture.startWorker({ hang });
    const client = clientId('timeout');
    const [a, b] = await fixture.engine.enqueue(client, [
      req('hang', null, { timeoutMs: 300, maxAttempts: 1 }),
      req('sleep', { ms: 10 }),
    ]);
    const [timedOut, next] = await settled(client, [a?.id ?? '', b?.id ?? '']);
    expect(timedOut).toMatchObject({
      status: 'failed',
      attempts: 1,
      timeoutMs: 300,
      error: { code: 'timeout', message: 'timed out after 300 ms' },
    });
    expect((timedOut?.finishedAt ?? 0) - (timedOut?.startedAt ?? 0)).toBeGreaterThanOrEqual(300);
    const reason = reasons.get(a?.id ?? '');
    expect(reason).toBeInstanceOf(Error);
    expect(reason).toMatchObject({ code: 'timeout', message: 'timed out after 300 ms' });
    expect(next).toMatchObject({ status: 'succeeded' });
  });

  it('ends the attempt at the timeout even when the handler ignores its signal', async () => {
    await fixture.startWorker({ deaf: handler(() => new Promise(() => undefined)) });
    const client = clientId('deaf');
    const [a] = await fixture.engine.enqueue(client, [req('deaf', null, { timeoutMs: 200, maxAttempts: 2 })]);
    const [record] = await settled(client, [a?.id ?? '']);
    expect(record).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'timeout' } });
    expect(record?.history.map((entry) => entry.error.code)).toEqual(['timeout', 'timeout']);
  });

  it('applies each request’s own timeout, and retries a timed-out attempt', async () => {
    const slowFirst = handler(async (_payload, context) => {
      if (context.attempt === 1) throw await untilAborted(context.signal);
      return { attempt: context.attempt };
    });
    await fixture.startWorker({ slowFirst });
    const [x, y, z] = [clientId('retry-timeout'), clientId('long-timeout'), clientId('short-timeout')];
    const [a] = await fixture.engine.enqueue(x, [req('slowFirst', null, { timeoutMs: 200, maxAttempts: 2 })]);
    const [b] = await fixture.engine.enqueue(y, [req('sleep', { ms: 400 }, { timeoutMs: 5_000, maxAttempts: 1 })]);
    const [c] = await fixture.engine.enqueue(z, [req('sleep', { ms: 400 }, { timeoutMs: 100, maxAttempts: 1 })]);

    const [retried] = await settled(x, [a?.id ?? '']);
    expect(retried).toMatchObject({ status: 'succeeded', attempts: 2, result: { attempt: 2 } });
    expect(retried?.history.map((entry) => entry.error.code)).toEqual(['timeout']);
    expect((await settled(y, [b?.id ?? '']))[0]).toMatchObject({ status: 'succeeded', result: { sleptMs: 400 } });
    expect((await settled(z, [c?.id ?? '']))[0]).toMatchObject({
      status: 'failed',
      error: { code: 'timeout', message: 'timed out after 100 ms' },
    });
  });
});
