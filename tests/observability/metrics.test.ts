/**
 * GET /metrics of the API and of a worker process: valid Prometheus text (promtool says so), and
 * the counters, histograms and queue gauges move as requests flow through the two processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerOps } from '../../src/queue/worker-ops.js';
import { API_HANDLERS_MODULE } from '../helpers/api-handlers.js';
import { startTestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import { enqueued, newClient, waitForStatus, type Client } from '../helpers/queue-api.js';
import { parseSamples, promtool, sample, scrape, startDeployment, type Deployment } from './helpers.js';

let deployment: Deployment;
let client: Client;

beforeAll(async () => {
  deployment = await startDeployment({ HANDLERS: API_HANDLERS_MODULE, RETRY_BASE_MS: '10', RETRY_MAX_MS: '20' });
  client = await newClient(deployment.api.app);
});
afterAll(async () => {
  await deployment?.stop();
});

const apiMetrics = async () => parseSamples(await scrape(deployment.api.metricsUrl));
const workerMetrics = async () => parseSamples(await scrape(deployment.worker.metricsUrl, deployment.workerToken));

describe('promtool check metrics', () => {
  it('accepts the API\'s /metrics', async () => {
    // Some traffic first, so that labelled series (routes, types) are exposed too.
    await enqueued(deployment.api.app, client, { type: 'echo', payload: 1 });
    const text = await scrape(deployment.api.metricsUrl);
    expect(text).toContain('laneq_http_request_duration_seconds_bucket{');
    const result = promtool(['check', 'metrics'], text);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('accepts a worker\'s /metrics', async () => {
    const { id } = await enqueued(deployment.api.app, client, { type: 'echo', payload: 2 });
    await waitForStatus(deployment.api.app, client, id, ['succeeded']);
    const text = await scrape(deployment.worker.metricsUrl, deployment.workerToken);
    expect(text).toContain('laneq_request_run_seconds_bucket{');
    const result = promtool(['check', 'metrics'], text);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });

  it('refuses text promtool should refuse, so the checks above mean something', () => {
    const result = promtool(['check', 'metrics'], '# TYPE laneq_bad_total gauge\nlaneq_bad_total 1\n');
    expect(result.status).not.toBe(0);
  });
});

describe('the worker\'s metrics port', () => {
  it('wants the metrics token when one is configured', async () => {
    expect((await fetch(deployment.worker.metricsUrl)).status).toBe(401);
    expect((await fetch(deployment.worker.metricsUrl, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('answers /health/live, and 404 elsewhere', async () => {
    const base = deployment.worker.metricsUrl.replace(/\/metrics$/, '');
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });
});

describe('as requests flow', () => {
  it('counts enqueued, started and finished requests and observes their wait and run times', async () => {
    const [apiBefore, workerBefore] = await Promise.all([apiMetrics(), workerMetrics()]);
    const app = deployment.api.app;
    const echoes = await Promise.all(Array.from({ length: 5 }, (_, n) => enqueued(app, client, { type: 'echo', payload: n })));
    // An idempotent repeat is not a new request: counted once.
    const keyed = await enqueued(app, client, { type: 'echo', payload: 'k', idempotencyKey: 'metrics-once' });
    const repeat = await enqueued(app, client, { type: 'echo', payload: 'k', idempotencyKey: 'metrics-once' });
    expect(repeat.id).toBe(keyed.id);
    const failing = await enqueued(app, client, { type: 'always_fail', maxAttempts: 2 });
    for (const { id } of [...echoes, keyed]) await waitForStatus(app, client, id, ['succeeded']);
    await waitForStatus(app, client, failing.id, ['failed']);
    expect((await call(app, 'GET', '/api/queue/requests/not-a-request', { token: client.token })).status).toBe(404);

    const [apiAfter, workerAfter] = await Promise.all([apiMetrics(), workerMetrics()]);
    const apiDelta = (series: string) => sample(apiAfter, series) - sample(apiBefore, series);
    const workerDelta = (series: string) => sample(workerAfter, series) - sample(workerBefore, series);

    expect(apiDelta('laneq_requests_enqueued_total{type="echo"}')).toBe(6);
    expect(apiDelta('laneq_requests_enqueued_total{type="always_fail"}')).toBe(1);
    expect(workerDelta('laneq_requests_started_total{type="echo"}')).toBe(6);
    expect(workerDelta('laneq_requests_finished_total{type="echo",outcome="succeeded"}')).toBe(6);
    expect(workerDelta('laneq_request_wait_seconds_count{type="echo"}')).toBe(6);
    expect(workerDelta('laneq_request_wait_seconds_bucket{type="echo",le="+Inf"}')).toBe(6);
    expect(workerDelta('laneq_request_run_seconds_count{type="echo"}')).toBe(6);
    expect(workerDelta('laneq_request_run_seconds_sum{type="echo"}')).toBeGreaterThan(0);
    // Two attempts: the first retried, the second dead-lettered; the wait is the first one's.
    expect(workerDelta('laneq_requests_started_total{type="always_fail"}')).toBe(2);
    expect(workerDelta('laneq_requests_finished_total{type="always_fail",outcome="retrying"}')).toBe(1);
    expect(workerDelta('laneq_requests_finished_total{type="always_fail",outcome="failed"}')).toBe(1);
    expect(workerDelta('laneq_request_wait_seconds_count{type="always_fail"}')).toBe(1);

    // The HTTP histogram names the route pattern, never the URL.
    expect(apiDelta('laneq_http_request_duration_seconds_count{method="POST",route="/api/queue/enqueue",status_code="202"}')).toBe(8);
    expect(apiDelta('laneq_http_request_duration_seconds_count{method="GET",route="/api/queue/requests/:id",status_code="404"}')).toBe(1);
    expect([...apiAfter.keys()].some((series) => series.includes('not-a-request'))).toBe(false);

    // Queue-wide gauges, read from Redis by either process (after their one-second cache).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const [apiGauges, workerGauges] = await Promise.all([apiMetrics(), workerMetrics()]);
    expect(sample(apiGauges, 'laneq_requests_dead_lettered')).toBe(1);
    expect(sample(workerGauges, 'laneq_requests_dead_lettered')).toBe(1);
    expect(sample(apiGauges, 'laneq_queue_stats_up')).toBe(1);
  });

  it('reports pending work, clients with work and running requests from Redis', async () => {
    const app = deployment.api.app;
    const other = await newClient(app);
    // A sleeping head keeps the rest of this client's queue pending while it runs.
    const head = await enqueued(app, other, { type: 'sleep', payload: { ms: 1_500 } });
    const rest = await Promise.all([1, 2, 3].map(() => enqueued(app, other, { type: 'echo', payload: null })));
    await waitForStatus(app, other, head.id, ['running']);
    // The gauges are cached for a second: wait until a fresh reading shows the running head.
    let during = await apiMetrics();
    for (let tries = 0; sample(during, 'laneq_requests_running') < 1 && tries < 30; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      during = await apiMetrics();
    }
    expect(sample(during, 'laneq_requests_running')).toBeGreaterThanOrEqual(1);
    expect(sample(during, 'laneq_requests_pending')).toBeGreaterThanOrEqual(3);
    expect(sample(during, 'laneq_clients_with_work')).toBeGreaterThanOrEqual(1);
    const inFlight = sample(await workerMetrics(), 'laneq_worker_requests_in_flight');
    expect(inFlight).toBeGreaterThanOrEqual(1);

    for (const { id } of rest) await waitForStatus(app, other, id, ['succeeded']);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const after = await apiMetrics();
    expect(sample(after, 'laneq_requests_pending')).toBe(0);
    expect(sample(after, 'laneq_requests_running')).toBe(0);
    expect(sample(after, 'laneq_clients_with_work')).toBe(0);
  });

  it('reports the archive backlog and that records get archived', async () => {
    const before = sample(await workerMetrics(), 'laneq_archived_records_total');
    const { id } = await enqueued(deployment.api.app, client, { type: 'echo', payload: 'archive me' });
    await waitForStatus(deployment.api.app, client, id, ['succeeded']);
    let after = before;
    for (let tries = 0; after === before && tries < 50; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = sample(await workerMetrics(), 'laneq_archived_records_total');
    }
    expect(after).toBeGreaterThan(before);
    const samples = await apiMetrics();
    expect(samples.has('laneq_archive_backlog_records')).toBe(true);
    expect(samples.has('laneq_archive_oldest_age_seconds')).toBe(true);
  });
});

describe('METRICS_TOKEN on the API', () => {
  it('is not needed by default, and /metrics is not in the OpenAPI document', async () => {
    const response = await deployment.api.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    const doc = (await deployment.api.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: object }>();
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });
});

describe('METRICS_ENABLED=false', () => {
  it('serves no /metrics', async () => {
    const server = await startTestServer({ ROLE: 'api', METRICS_ENABLED: 'false' });
    try {
      expect(server.metricsUrl).toBe('');
      expect((await server.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await server.stop();
    }
  });
});

describe('redeliveries after lease expiry', () => {
  let small: Deployment;
  beforeAll(async () => {
    // One slot, so that a request whose lease expires waits for the slot instead of being claimed
    // by this worker before the "crashed" one below can take it.
    small = await startDeployment({ WORKER_CONCURRENCY: '1', LEASE_MS: '2000', HEARTBEAT_MS: '500' });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it('counts a request delivered again because its worker stopped heartbeating', async () => {
    const app = small.api.app;
    const [busy, victim] = [await newClient(app), await newClient(app)];
    const blocker = await enqueued(app, busy, { type: 'sleep', payload: { ms: 2_500 } });
    await waitForStatus(app, busy, blocker.id, ['running']);
    const redeliveries = async () => sample(parseSamples(await scrape(small.worker.metricsUrl, small.workerToken)), 'laneq_redeliveries_total');
    const before = await redeliveries();

    const { id } = await enqueued(app, victim, { type: 'echo', payload: 'again' });
    // A worker that claims with a 300 ms lease and then dies: it never heartbeats nor completes.
    const crashed = new WorkerOps(small.api.engine, { leaseMs: 300, retentionMs: 60_000, retentionCount: 100, turnLength: 1 });
    const claim = await crashed.claim(small.api.engine.keys.forClient(victim.id), 1);
    expect(claim.claimed.map((request) => request.id)).toEqual([id]);

    let after = before;
    for (let tries = 0; after === before && tries < 40; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await redeliveries();
    }
    expect(after).toBe(before + 1);
    expect((await waitForStatus(app, victim, id, ['succeeded'])).attempts).toBe(2);
  });
});
