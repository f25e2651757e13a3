/**
 * Requests that have left Redis retention (RESULT_RETENTION_S=1: Redis keeps a final record for a
 * second) are served from the PostgreSQL archive: read, listed, dequeued, refused as not
 * cancellable, named by an idempotent repeat, and retried as dead letters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_HANDLERS_MODULE } from '../helpers/api-handlers.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { eventually } from '../helpers/engine.js';
import { call } from '../helpers/http.js';
import {
  archivedStatus,
  dequeue,
  enqueue,
  enqueued,
  getRequest,
  listAll,
  newAdmin,
  newClient,
  waitForStatus,
  type Accepted,
  type Client,
  type RequestView,
} from '../helpers/queue-api.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ RESULT_RETENTION_S: '1', HANDLERS: API_HANDLERS_MODULE, RETRY_BASE_MS: '10' });
});
afterAll(async () => {
  await server.stop();
});

const app = () => server.app;

/** Whether Redis still holds the request's final record. */
async function inRedis(client: Client, id: string): Promise<boolean> {
  return (await server.engine.get(client.id, id)) !== undefined;
}

/** Waits until each request is archived with `status` and out of Redis retention. */
async function onlyInArchive(client: Client, ids: string[], status = 'succeeded'): Promise<void> {
  await eventually(async () => {
    const archived = await Promise.all(ids.map((id) => archivedStatus(server.pool, id)));
    const redis = await Promise.all(ids.map((id) => inRedis(client, id)));
    return archived.every((one) => one === status) && redis.every((held) => !held);
  });
}

/** Enqueues echo requests as one batch (plus `extra`), and waits until the echoes are only in the archive. */
async function archivedEchoes(client: Client, count: number, extra: Record<string, unknown>[] = []): Promise<string[]> {
  const requests = [...Array.from({ length: count }, (_, index) => ({ type: 'echo', payload: { index } })), ...extra];
  const { body } = await enqueue<{ requests: Accepted[] }>(app(), client, { requests });
  const ids = body.requests.slice(0, count).map((one) => one.id);
  await onlyInArchive(client, ids);
  return ids;
}

describe('after Redis retention', () => {
  it('GET /requests/:id answers from the archive, the same view as from Redis', async () => {
    const client = await newClient(app());
    const first = await enqueued(app(), client, { type: 'echo', payload: { text: 'héllo', list: [1, 2.5, null] } });
    const fromRedis = await waitForStatus(app(), client, first.id, ['succeeded']);
    await onlyInArchive(client, [first.id]);
    const fromArchive = await getRequest(app(), client, first.id);
    expect(fromArchive.status).toBe(200);
    expect(fromArchive.body).toEqual(fromRedis);
    // Still the owner's only.
    expect((await getRequest(app(), await newClient(app()), first.id)).status).toBe(404);
  });

  it('lists Redis and the archive together, newest first, each request once', async () => {
    const client = await newClient(app());
    const ids = await archivedEchoes(client, 7);
    const queued = await enqueued(app(), client, { type: 'sleep', payload: { ms: 1_000 } });
    const all = await listAll(app(), client, { limit: '3' });
    expect(all.map((view) => view.id)).toEqual([queued.id, ...ids.reverse()]);
    expect((await listAll(app(), client, { status: 'succeeded', limit: '100' })).map((view) => view.id)).toEqual(ids);
  });

  it('dequeues results whose Redis copy is gone from the archive, in order, then 204', async () => {
    const client = await newClient(app());
    // The sleep keeps the client busy, so its outbox stays. Its final records leave Redis together
    // with the outbox, except those an earlier version kept one key each (done:<id>), which
    // expired on their own: removing the records alone stands for that.
    const { body } = await enqueue<{ requests: Accepted[] }>(app(), client, {
      requests: [...[0, 1, 2].map((index) => ({ type: 'echo', payload: { index } })), { type: 'sleep', payload: { ms: 4_000 } }],
    });
    const ids = body.requests.slice(0, 3).map((one) => one.id);
    await eventually(async () => (await Promise.all(ids.map((id) => archivedStatus(server.pool, id)))).every((status) => status === 'succeeded'));
    const { base } = server.engine.keys.forClient(client.id);
    expect(await server.engine.redis.hdel(`${base}res:${client.id}`, ...ids)).toBe(3);
    const results: unknown[] = [];
    for (const id of ids) {
      const response = await dequeue(app(), client);
      expect(response.status).toBe(200);
      expect(response.body?.id).toBe(id);
      results.push(response.body?.result);
    }
    expect(results).toEqual([{ index: 0 }, { index: 1 }, { index: 2 }]);
    expect((await dequeue(app(), client)).status).toBe(204);
  });

  it('answers 409 to cancelling an archived request and 404 to another client', async () => {
    const client = await newClient(app());
    const [old] = await archivedEchoes(client, 1);
    const cancel = (who: Client) => call<{ error: { code: string } }>(app(), 'DELETE', `/api/queue/requests/${old}`, { token: who.token });
    expect((await cancel(client)).body.error.code).toBe('not_cancellable');
    expect((await cancel(await newClient(app()))).status).toBe(404);
  });

  it('answers an idempotent repeat of an archived request with its archived status', async () => {
    const client = await newClient(app());
    const original = await enqueued(app(), client, { type: 'echo', payload: 1, idempotencyKey: 'once' });
    await onlyInArchive(client, [original.id]);
    expect(await enqueued(app(), client, { type: 'echo', payload: 1, idempotencyKey: 'once' })).toEqual({
      id: original.id,
      status: 'succeeded',
    });
  });

  it('retries a dead letter read from the archive; its row is updated when it ends again', async () => {
    const client = await newClient(app());
    const admin = await newAdmin(app(), server.pool);
    const dead = await enqueued(app(), client, { type: 'fail_first', maxAttempts: 1 });
    await onlyInArchive(client, [dead.id], 'failed');

    const retry = await call(app(), 'POST', `/api/admin/dead-letters/${dead.id}/retry`, { token: admin.token });
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    expect(retry.body).toEqual({ id: dead.id, status: 'queued', position: 0 });
    const cured: RequestView = await waitForStatus(app(), client, dead.id, ['succeeded']);
    expect(cured).toMatchObject({ result: { cured: true }, attempts: 1, maxAttempts: 1, payload: null });
    expect(cured.history).toEqual([expect.objectContaining({ attempt: 1, error: expect.objectContaining({ message: 'first attempt fails' }) })]);
    await eventually(async () => (await archivedStatus(server.pool, dead.id)) === 'succeeded');
  });
});
