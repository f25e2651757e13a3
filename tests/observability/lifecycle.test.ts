/**
 * Lifecycle lines: a request's accepted, started and finished lines (structured, one JSON object
 * each), all of them or a sample chosen by request id, or none. Also a ROLE=all server's single
 * /metrics, which covers its worker too, behind METRICS_TOKEN.
 */
import { Writable } from 'node:stream';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSample, LifecycleLog, type LifecycleMode } from '../../src/observability/lifecycle.js';
import { createLogger } from '../../src/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { apiOf, deleteKeys, dropDatabase, testConfig } from '../helpers/context.js';
import { newClient, enqueued, waitForStatus } from '../helpers/queue-api.js';
import { parseSamples, sample } from './helpers.js';

/** A pino destination keeping every line, parsed. */
class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }

  of(requestId: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.component === 'lifecycle' && line.requestId === requestId);
  }
}

describe('a server with LOG_LIFECYCLE=all', () => {
  const lines = new Lines();
  const config = testConfig({ ROLE: 'all', LOG_LEVEL: 'info', LOG_LIFECYCLE: 'all', METRICS_TOKEN: 'lifecycle-test-token' });
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer(config, createLogger(config.LOG_LEVEL, lines));
  });
  afterAll(async () => {
    await server?.close();
    await Promise.all([dropDatabase(config.DATABASE_URL), deleteKeys(config.KEY_PREFIX)]);
  });

  it('logs accepted, started and finished for each request, with outcome and duration', async () => {
    const app = apiOf(server);
    const client = await newClient(app);
    const { id } = await enqueued(app, client, { type: 'sleep', payload: { ms: 20 } });
    await waitForStatus(app, client, id, ['succeeded']);
    // The finished line is written once the completion is recorded, just after the status changes.
    for (let tries = 0; lines.of(id).length < 3 && tries < 50; tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    const [accepted, started, finished] = lines.of(id);
    expect(accepted).toMatchObject({ event: 'accepted', msg: 'request accepted', level: 30, clientId: client.id, type: 'sleep', position: 0 });
    expect(started).toMatchObject({ event: 'started', clientId: client.id, type: 'sleep', attempt: 1, waitMs: expect.any(Number) });
    expect(finished).toMatchObject({ event: 'finished', type: 'sleep', attempt: 1, outcome: 'succeeded' });
    expect(finished?.durationMs).toBeGreaterThanOrEqual(20);
  });

  it('names the error code of a failed attempt', async () => {
    const app = apiOf(server);
    const client = await newClient(app);
    const { id } = await enqueued(app, client, { type: 'http', payload: { method: 'GET', url: 'http://not-allowed.example/' }, maxAttempts: 1 });
    await waitForStatus(app, client, id, ['failed']);
    for (let tries = 0; lines.of(id).length < 3 && tries < 50; tries += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    const finished = lines.of(id).find((line) => line.event === 'finished');
    expect(finished).toMatchObject({ outcome: 'failed', errorCode: expect.any(String) });
  });

  it('serves one /metrics for the API and its worker, behind METRICS_TOKEN', async () => {
    const app = apiOf(server);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const response = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer lifecycle-test-token' } });
    expect(response.statusCode).toBe(200);
    const samples = parseSamples(response.body);
    expect(sample(samples, 'laneq_requests_enqueued_total{type="sleep"}')).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'laneq_requests_finished_total{type="sleep",outcome="succeeded"}')).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'laneq_worker_concurrency')).toBe(config.WORKER_CONCURRENCY);
  });
});

describe('LifecycleLog', () => {
  const request = (id: string) => ({ id, clientId: 'c', type: 'noop', attempt: 1, enqueuedAt: 0 });

  function logged(mode: LifecycleMode, every: number, ids: string[]): Lines {
    const lines = new Lines();
    const lifecycle = new LifecycleLog(createLogger('info', lines), { LOG_LIFECYCLE: mode, LOG_LIFECYCLE_SAMPLE: every });
    for (const id of ids) {
      lifecycle.accepted('c', id, 'noop', 0);
      lifecycle.started(request(id), 1);
      lifecycle.finished(request(id), 'succeeded', 2);
    }
    return lines;
  }

  const ids = Array.from({ length: 4_000 }, () => uuidv7());

  it('writes nothing when off, or when the level hides info', () => {
    expect(logged('off', 1, ids.slice(0, 10)).lines).toEqual([]);
    const quiet = new Lines();
    const lifecycle = new LifecycleLog(createLogger('warn', quiet), { LOG_LIFECYCLE: 'all', LOG_LIFECYCLE_SAMPLE: 1 });
    expect(lifecycle.enabled).toBe(false);
    lifecycle.accepted('c', ids[0] as string, 'noop', 0);
    expect(quiet.lines).toEqual([]);
  });

  it('samples whole requests, about one in LOG_LIFECYCLE_SAMPLE, the same ones in every process', () => {
    const lines = logged('sampled', 20, ids);
    const sampled = new Set(lines.lines.map((line) => line.requestId as string));
    // 4,000 / 20 = 200 expected; a binomial spread far beyond ±60 would mean a skewed choice.
    expect(sampled.size).toBeGreaterThan(140);
    expect(sampled.size).toBeLessThan(260);
    for (const id of sampled) expect(lines.of(id).map((line) => line.event)).toEqual(['accepted', 'started', 'finished']);
    expect([...sampled].every((id) => inSample(id, 20))).toBe(true);
    expect(ids.filter((id) => inSample(id, 20)).length).toBe(sampled.size);
  });

  it('writes every request when all', () => {
    expect(logged('all', 1_000, ids.slice(0, 50)).lines).toHaveLength(150);
  });
});
