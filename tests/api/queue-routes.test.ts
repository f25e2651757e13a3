/**
 * The client-facing queue API through app.inject, against the real Redis and PostgreSQL, with the
 * in-process worker (ROLE=all) running the built-in `sleep`, `echo` and `noop` types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/app.js';
import { createAuthService } from '../../src/auth/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createEngine } from '../../src/queue/index.js';
import { LiveEvents } from '../../src/queue/live-events.js';
import { closeRedis, connectRedis } from '../../src/redis/connect.js';
import { HandlerRegistry } from '../../src/worker/handlers/registry.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import { startTestServer, REDIS_URL, type TestServer } from '../helpers/context.js';
import { nested } from '../helpers/fuzz.js';
import { call } from '../helpers/http.js';
import {
  dequeue,
  enqueue,
  enqueued,
  getRequest,
  listAll,
  newClient,
  waitForStatus,
  type Accepted,
  type Client,
  type ErrorAnswer,
  type RequestView,
} from '../helpers/queue-api.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

const app = () => server.app;
const stats = (client: Client) => call<Record<string, number>>(app(), 'GET', '/api/queue', { token: client.token });
/** A request that holds the client's queue for `ms`. */
const blocker = (ms = 1_500) => ({ type: 'sleep', payload: { ms } });

describe('POST /api/queue/enqueue', () => {
  it('accepts one request: 202 {id, status queued, position}, and the worker runs it', async () => {
    const client = await newClient(app());
    const first = await enqueued(app(), client, blocker(300));
    expect(first).toEqual({ id: expect.stringMatching(UUID), status: 'queued', position: 0 });
    const second = await enqueued(app(), client, { type: 'echo', payload: { hello: 'world' } });
    expect(second.position).toBe(1);
    const done = await waitForStatus(app(), client, second.id, ['succeeded']);
    expect(done).toMatchObject({ result: { hello: 'world' }, attempts: 1, maxAttempts: 3 });
  });

  it('accepts a batch in array order: positions count up and the requests run in that order', async () => {
    const client = await newClient(app());
    const requests = Array.from({ length: 5 }, (_, index) => ({ type: 'echo', payload: { index } }));
    const response = await enqueue<{ requests: Accepted[] }>(app(), client, { requests });
    expect(response.status).toBe(202);
    expect(response.body.requests.map((one) => one.position)).toEqual([0, 1, 2, 3, 4]);
    const ids = response.body.requests.map((one) => one.id);
    expect([...ids].sort()).toEqual(ids);
    const views = await Promise.all(ids.map((id) => waitForStatus(app(), client, id, ['succeeded'])));
    for (let i = 1; i < views.length; i += 1) {
      expect(Date.parse(views[i]?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(views[i - 1]?.finishedAt ?? ''));
    }
  });

  it('accepts a batch of 1,000 in one call and refuses 1,001', async () => {
    const client = await newClient(app());
    const many = (count: number) => ({ requests: Array.from({ length: count }, () => ({ type: 'noop' })) });
    const accepted = await enqueue<{ requests: Accepted[] }>(app(), client, many(1_000));
    expect(accepted.status).toBe(202);
    expect(accepted.body.requests).toHaveLength(1_000);
    const refused = await enqueue(app(), client, many(1_001));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
  });

  it('refuses a batch whole when one element is bad, naming its index', async () => {
    const client = await newClient(app());
    const requests = [blocker(10), blocker(10), blocker(10), { type: 'sleep', payload: { ms: 10, x: 1 } }, blocker(10)];
    const response = await enqueue(app(), client, { requests });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'validation_failed',
      details: [{ field: 'requests[3].payload.x', message: 'is not allowed' }],
    });
    const badShape = await enqueue(app(), client, { requests: [blocker(10), { type: 'noop', maxAttempts: 0 }] });
    expect(badShape.status).toBe(400);
    expect(badShape.body.error.details).toEqual([{ field: 'body.requests[1].maxAttempts', message: expect.any(String) }]);
    const unknown = await enqueue(app(), client, { requests: [blocker(10), blocker(10), { type: 'nope' }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_type', details: { type: 'nope', field: 'requests[2].type' } });
    // Nothing of any refused batch was queued.
    expect((await stats(client)).body).toMatchObject({ pending: 0, running: 0, succeeded: 0 });
    expect(await listAll(app(), client)).toEqual([]);
  });

  it('answers an idempotent repeat with the original id and its current status', async () => {
    const client = await newClient(app());
    await enqueued(app(), client, blocker(300));
    const original = await enqueued(app(), client, { type: 'echo', payload: 1, idempotencyKey: 'order-17' });
    const repeat = await enqueued(app(), client, { type: 'echo', payload: 2, idempotencyKey: 'order-17' });
    expect(repeat).toEqual({ id: original.id, status: 'queued', position: 1 });
    await waitForStatus(app(), client, original.id, ['succeeded']);
    expect(await enqueued(app(), client, { type: 'echo', payload: 3, idempotencyKey: 'order-17' })).toEqual({
      id: original.id,
      status: 'succeeded',
    });
    expect((await getRequest(app(), client, original.id)).body.result).toBe(1);
    // Keys are per client: another client's same key is a new request.
    const other = await newClient(app());
    expect((await enqueued(app(), other, { type: 'echo', idempotencyKey: 'order-17' })).id).not.toBe(original.id);
  });

  it('refuses an unknown type with 400 unknown_type', async () => {
    const response = await enqueue(app(), await newClient(app()), { type: 'teleport', payload: {} });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'unknown_type', details: { type: 'teleport', field: 'type' } });
  });

  it('refuses a payload that fails its type\'s schema with 400 validation_failed naming the field', async () => {
    const response = await enqueue(app(), await newClient(app()), { type: 'sleep', payload: { ms: 'soon' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'validation_failed', details: [{ field: 'payload.ms' }] });
    const missing = await enqueue(app(), await newClient(app()), { type: 'sleep' });
    expect(missing.status).toBe(400);
  });

  it('refuses a payload nested deeper than PAYLOAD_MAX_DEPTH (32), and takes one exactly that deep', async () => {
    const client = await newClient(app());
    const deep = (depth: number) => JSON.parse(nested(depth, 'array')) as unknown;
    expect((await enqueue(app(), client, { type: 'echo', payload: deep(32) })).status).toBe(202);
    const tooDeep = await enqueue(app(), client, { type: 'echo', payload: deep(33) });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error).toMatchObject({ code: 'validation_failed', details: [{ field: 'payload' }] });
    const inBatch = await enqueue(app(), client, { requests: [{ type: 'echo' }, { type: 'echo', payload: { a: deep(40) } }] });
    expect(inBatch.body.error).toMatchObject({ code: 'validation_failed', details: [{ field: 'requests[1].payload' }] });
  });

  it('applies DEFAULT_MAX_ATTEMPTS and DEFAULT_TIMEOUT_MS, and refuses values past the limits', async () => {
    const client = await newClient(app());
    const accepted = await enqueued(app(), client, { type: 'noop' });
    expect((await getRequest(app(), client, accepted.id)).body.maxAttempts).toBe(server.config.DEFAULT_MAX_ATTEMPTS);
    const bad: Record<string, unknown>[] = [
      { type: 'noop', maxAttempts: server.config.MAX_ATTEMPTS_LIMIT + 1 },
      { type: 'noop', maxAttempts: 1.5 },
      { type: 'noop', timeoutMs: server.config.MAX_TIMEOUT_MS + 1 },
      { type: 'noop', timeoutMs: '1000' },
      { type: 'noop', idempotencyKey: '' },
      { type: 'noop', idempotencyKey: 'k'.repeat(201) },
      { type: 'noop', priority: 1 },
      { type: '' },
      { payload: {} },
      {},
    ];
    for (const body of bad) {
      const response = await enqueue(app(), client, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
    expect((await enqueue(app(), client, { type: 'noop', idempotencyKey: 'k'.repeat(200), maxAttempts: 25 })).status).toBe(202);
  });

  it('needs a Bearer token', async () => {
    const response = await call<ErrorAnswer>(app(), 'POST', '/api/queue/enqueue', { body: { type: 'noop' } });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
  });
});

describe('GET /api/queue and /api/queue/types', () => {
  it('answers the caller\'s own figures', async () => {
    const client = await newClient(app());
    const head = await enqueued(app(), client, blocker(1_000));
    await enqueued(app(), client, { type: 'noop' });
    await enqueued(app(), client, { type: 'noop' });
    await waitForStatus(app(), client, head.id, ['running']);
    const figures = await stats(client);
    expect(figures.status).toBe(200);
    expect(figures.body).toEqual({
      pending: 2,
      running: 1,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      oldestPendingAgeMs: expect.any(Number),
    });
    expect((await stats(await newClient(app()))).body).toMatchObject({ pending: 0, running: 0 });
  });

  it('lists the types this deployment runs, with description and schema', async () => {
    const response = await call<{ types: { type: string; description: string; schema: unknown }[] }>(
      app(), 'GET', '/api/queue/types', { token: (await newClient(app())).token },
    );
    expect(response.status).toBe(200);
    expect(response.body.types.map((entry) => entry.type).sort()).toEqual(['echo', 'http', 'noop', 'sleep']);
    const sleep = response.body.types.find((entry) => entry.type === 'sleep');
    expect(sleep).toMatchObject({ description: expect.stringContaining('ms'), schema: { required: ['ms'] } });
  });

  it('refuses unknown query parameters', async () => {
    const client = await newClient(app());
    expect((await call(app(), 'GET', '/api/queue?verbose=1', { token: client.token })).status).toBe(400);
  });
});

describe('GET /api/queue/requests/:id', () => {
  it('shows a finished request with ISO-8601 times and its result', async () => {
    const client = await newClient(app());
    const accepted = await enqueued(app(), client, { type: 'echo', payload: { n: 1 } });
    const view = await waitForStatus(app(), client, accepted.id, ['succeeded']);
    expect(view).toEqual({
      id: accepted.id,
      type: 'echo',
      status: 'succeeded',
      attempts: 1,
      maxAttempts: 3,
      payload: { n: 1 },
      result: { n: 1 },
      enqueuedAt: expect.stringMatching(ISO_MS),
      startedAt: expect.stringMatching(ISO_MS),
      finishedAt: expect.stringMatching(ISO_MS),
      history: [],
    });
    // Upper-case ids are the same id.
    expect((await getRequest(app(), client, accepted.id.toUpperCase())).body.id).toBe(accepted.id);
  });

  it('shows the position of a queued request, and none for a running one', async () => {
    const client = await newClient(app());
    const head = await enqueued(app(), client, blocker(1_000));
    const next = await enqueued(app(), client, { type: 'noop' });
    const running = await waitForStatus(app(), client, head.id, ['running']);
    expect(running.position).toBeUndefined();
    expect(running.startedAt).toMatch(ISO_MS);
    const queued = (await getRequest(app(), client, next.id)).body;
    expect(queued).toMatchObject({ status: 'queued', position: 1, attempts: 0 });
    expect(queued.startedAt).toBeUndefined();
  });

  it('answers 404 for another client\'s request, an unknown id and a malformed id alike', async () => {
    const owner = await newClient(app());
    const stranger = await newClient(app());
    const accepted = await enqueued(app(), owner, { type: 'noop' });
    for (const id of [accepted.id, '01890000-0000-7000-8000-000000000000', 'not-an-id', "1' OR '1'='1", 'x'.repeat(5000)]) {
      const response = await getRequest(app(), stranger, id);
      expect(response.status, id.slice(0, 40)).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
    // A path that is not valid percent-encoding is a malformed URL, answered like one.
    const badUrl = await call<ErrorAnswer>(app(), 'GET', '/api/queue/requests/%E0%A4%A', { token: stranger.token });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error.code).toBe('bad_request');
  });
});

describe('GET /api/queue/requests', () => {
  it('pages through the caller\'s requests newest first, with an opaque cursor', async () => {
    const client = await newClient(app());
    const { body } = await enqueue<{ requests: Accepted[] }>(app(), client, {
      requests: [blocker(800), ...Array.from({ length: 6 }, (_, index) => ({ type: 'echo', payload: index }))],
    });
    const ids = body.requests.map((one) => one.id);
    await waitForStatus(app(), client, ids[0] as string, ['running']);
    const first = await call<{ requests: RequestView[]; nextCursor?: string }>(app(), 'GET', '/api/queue/requests?limit=3', {
      token: client.token,
    });
    expect(first.body.requests.map((view) => view.id)).toEqual(ids.slice(-3).reverse());
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const all = await listAll(app(), client, { limit: '2' });
    expect(all.map((view) => view.id)).toEqual([...ids].reverse());
    expect(all.at(-1)?.status).toBe('running');
    // The live and the finished ones together, once the head has finished.
    await waitForStatus(app(), client, ids[6] as string, ['succeeded']);
    expect((await listAll(app(), client, { limit: '4' })).map((view) => view.id)).toEqual([...ids].reverse());
  });

  it('filters by status', async () => {
    const client = await newClient(app());
    const head = await enqueued(app(), client, blocker(1_000));
    const queued = await enqueued(app(), client, { type: 'noop' });
    const cancelled = await enqueued(app(), client, { type: 'noop' });
    expect((await call(app(), 'DELETE', `/api/queue/requests/${cancelled.id}`, { token: client.token })).status).toBe(200);
    await waitForStatus(app(), client, head.id, ['running']);
    const ids = async (status: string) => (await listAll(app(), client, { status })).map((view) => view.id);
    expect(await ids('running')).toEqual([head.id]);
    expect(await ids('queued')).toEqual([queued.id]);
    expect(await ids('cancelled')).toEqual([cancelled.id]);
    expect(await ids('succeeded')).toEqual([]);
  });

  it('refuses bad parameters with 400, and lists nothing of other clients', async () => {
    const client = await newClient(app());
    await enqueued(app(), await newClient(app()), { type: 'noop' });
    expect(await listAll(app(), client)).toEqual([]);
    for (const query of ['limit=0', 'limit=101', 'limit=x', 'status=done', 'cursor=', 'cursor=bm90LWFuLWlk', 'cursor=%%', 'page=2']) {
      const response = await call<ErrorAnswer>(app(), 'GET', `/api/queue/requests?${query}`, { token: client.token });
      expect(response.status, query).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
  });
});

describe('DELETE /api/queue/requests/:id', () => {
  it('cancels a queued request; a running or finished one answers 409; another client\'s 404', async () => {
    const client = await newClient(app());
    const head = await enqueued(app(), client, blocker(1_000));
    const waiting = await enqueued(app(), client, { type: 'noop' });
    await waitForStatus(app(), client, head.id, ['running']);
    const remove = (who: Client, id: string) => call<ErrorAnswer & { id: string; status: string }>(app(), 'DELETE', `/api/queue/requests/${id}`, { token: who.token });

    expect((await remove(await newClient(app()), waiting.id)).status).toBe(404);
    const cancelled = await remove(client, waiting.id);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ id: waiting.id, status: 'cancelled' });
    expect((await getRequest(app(), client, waiting.id)).body.status).toBe('cancelled');
    expect((await remove(client, waiting.id)).body.error.code).toBe('not_cancellable');

    const running = await remove(client, head.id);
    expect(running.status).toBe(409);
    expect(running.body.error.code).toBe('not_cancellable');
    await waitForStatus(app(), client, head.id, ['succeeded']);
    expect((await remove(client, head.id)).status).toBe(409);
    expect((await remove(client, 'not-a-uuid')).status).toBe(404);
  });
});

describe('GET /api/queue/dequeue', () => {
  it('hands out finished requests in order, then 204; another client gets none of them', async () => {
    const client = await newClient(app());
    const { body } = await enqueue<{ requests: Accepted[] }>(app(), client, {
      requests: [{ type: 'echo', payload: 'a' }, { type: 'echo', payload: 'b' }, { type: 'echo', payload: 'c' }],
    });
    await waitForStatus(app(), client, body.requests[2]?.id as string, ['succeeded']);
    const stranger = await newClient(app());
    expect((await dequeue(app(), stranger)).status).toBe(204);
    const results = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await dequeue(app(), client);
      expect(response.status).toBe(200);
      results.push(response.body?.result);
      expect(response.body?.finishedAt).toMatch(ISO_MS);
    }
    expect(results).toEqual(['a', 'b', 'c']);
    const empty = await dequeue(app(), client);
    expect(empty.status).toBe(204);
    expect(empty.body).toBeUndefined();
  });

  it('with ?wait=N answers as soon as a result is there, or 204 after N seconds', async () => {
    const client = await newClient(app());
    await enqueued(app(), client, { type: 'sleep', payload: { ms: 300 } });
    const started = Date.now();
    const waited = await dequeue(app(), client, '?wait=10');
    expect(waited.status).toBe(200);
    expect(waited.body?.result).toEqual({ sleptMs: 300 });
    expect(Date.now() - started).toBeLessThan(5_000);

    const idle = Date.now();
    expect((await dequeue(app(), client, '?wait=1')).status).toBe(204);
    expect(Date.now() - idle).toBeGreaterThanOrEqual(900);
    for (const query of ['?wait=31', '?wait=-1', '?wait=1.5', '?wait=soon', '?timeout=1']) {
      expect((await dequeue(app(), client, query)).status, query).toBe(400);
    }
  });
});

describe('a waiting dequeue at shutdown', () => {
  it('answers 204 at once instead of holding the shutdown up', async () => {
    const own = await startTestServer();
    try {
      const client = await newClient(own.app);
      const started = Date.now();
      const waiting = fetch(new URL('/api/queue/dequeue?wait=30', own.url), { headers: { authorization: `Bearer ${client.token}` } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await own.close();
      expect((await waiting).status).toBe(204);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await own.stop();
    }
  });
});

describe('when Redis cannot be reached', () => {
  it('answers 503 and writes nothing; the same call succeeds once Redis is back', async () => {
    const proxy = await TcpProxy.open('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
    const config = { ...server.config, REDIS_URL: `redis://127.0.0.1:${proxy.port}` };
    const redis = connectRedis(config, 'laneq-test-proxied');
    redis.on('error', () => undefined); // expected while the proxy is down
    const engine = createEngine(config, redis);
    const broken = await buildApi({
      config,
      logger: createLogger('silent'),
      redis,
      pool: server.pool,
      auth: createAuthService(config, redis, server.pool),
      engine,
      registry: new HandlerRegistry(builtinHandlers([])),
      live: new LiveEvents(redis, redis, engine.keys), // never started: no stream is opened here
    });
    try {
      const client = await newClient(app());
      const batch = { requests: [{ type: 'noop' }, { type: 'echo', payload: 1 }] };
      await proxy.stop();
      const refused = await enqueue(broken, client, batch);
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('service_unavailable');
      expect((await call(broken, 'GET', '/api/queue', { token: client.token })).status).toBe(503);
      await proxy.start();
      expect((await stats(client)).body).toMatchObject({ pending: 0, running: 0, succeeded: 0 });
      await expect.poll(async () => (await enqueue(broken, client, batch)).status, { timeout: 10_000 }).toBe(202);
    } finally {
      await broken.close();
      await closeRedis(redis);
      await proxy.stop();
    }
  });
});
