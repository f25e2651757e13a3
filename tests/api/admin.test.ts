/**
 * The operator endpoints: queue totals and the deepest queues, dead letters, and their retry.
 * Only role admin may call them (403 for a user, 401 without a token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_HANDLERS_MODULE } from '../helpers/api-handlers.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import {
  enqueue,
  enqueued,
  listAll,
  newAdmin,
  newClient,
  waitForStatus,
  type Client,
  type ErrorAnswer,
  type RequestView,
} from '../helpers/queue-api.js';

interface Overview {
  totals: { pending: number; running: number; waitingRetry: number; deadLettered: number; clientsWithWork: number };
  deepestQueues: { clientId: string; pending: number }[];
  complete: boolean;
}

interface DeadLetterPage {
  deadLetters: RequestView[];
  nextCursor?: string;
}

let server: TestServer;
let admin: Client;
beforeAll(async () => {
  server = await startTestServer({ HANDLERS: API_HANDLERS_MODULE });
  admin = await newAdmin(server.app, server.pool);
});
afterAll(async () => {
  await server.stop();
});

const app = () => server.app;
const overview = async (query = '') => (await call<Overview>(app(), 'GET', `/api/admin/queues${query}`, { token: admin.token })).body;
const deadLetters = (query = '') => call<DeadLetterPage>(app(), 'GET', `/api/admin/dead-letters${query}`, { token: admin.token });
const retry = (id: string, who: Client = admin) =>
  call<ErrorAnswer & { id: string; status: string; position: number }>(app(), 'POST', `/api/admin/dead-letters/${id}/retry`, {
    token: who.token,
  });

/** A request that always fails, dead-lettered after its one attempt. */
async function deadLetter(client: Client, type = 'always_fail'): Promise<string> {
  const { id } = await enqueued(app(), client, { type, payload: { why: 'test' }, maxAttempts: 1 });
  await waitForStatus(app(), client, id, ['failed']);
  return id;
}

describe('who may call the admin endpoints', () => {
  it('answers 403 forbidden to a user and 401 without a token', async () => {
    const user = await newClient(app());
    const { id } = await enqueued(app(), user, { type: 'noop' });
    const routes = [
      ['GET', '/api/admin/queues'],
      ['GET', '/api/admin/dead-letters'],
      ['POST', `/api/admin/dead-letters/${id}/retry`],
    ] as const;
    for (const [method, url] of routes) {
      const forbidden = await call<ErrorAnswer>(app(), method, url, { token: user.token });
      expect(forbidden.status, url).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');
      expect((await call(app(), method, url)).status, url).toBe(401);
    }
  });
});

describe('GET /api/admin/queues', () => {
  it('totals the shards and ranks the deepest queues', async () => {
    const deep = await newClient(app());
    const shallow = await newClient(app());
    const hold = { type: 'sleep', payload: { ms: 2_000 } };
    await enqueue(app(), deep, { requests: [hold, ...Array.from({ length: 6 }, () => ({ type: 'noop' }))] });
    const [head] = (await enqueue<{ requests: { id: string }[] }>(app(), shallow, { requests: [hold, { type: 'noop' }, { type: 'noop' }] })).body
      .requests;
    await waitForStatus(app(), shallow, head?.id as string, ['running']);
    const figures = await overview();
    expect(figures.complete).toBe(true);
    expect(figures.totals.running).toBeGreaterThanOrEqual(2);
    expect(figures.totals.pending).toBeGreaterThanOrEqual(8);
    expect(figures.totals.clientsWithWork).toBeGreaterThanOrEqual(2);
    expect(figures.deepestQueues.slice(0, 2)).toEqual([
      { clientId: deep.id, pending: 6 },
      { clientId: shallow.id, pending: 2 },
    ]);
    expect((await overview('?top=1')).deepestQueues).toEqual([{ clientId: deep.id, pending: 6 }]);
    expect((await call(app(), 'GET', '/api/admin/queues?top=0', { token: admin.token })).status).toBe(400);
  });
});

describe('dead letters', () => {
  it('lists them newest first with their client, paged, and counts them in the totals', async () => {
    const client = await newClient(app());
    const before = (await overview()).totals.deadLettered;
    const ids = [await deadLetter(client), await deadLetter(client), await deadLetter(client)];
    expect((await overview()).totals.deadLettered).toBe(before + 3);
    const first = await deadLetters('?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.deadLetters.map((view) => view.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.deadLetters[0]).toMatchObject({
      clientId: client.id,
      status: 'failed',
      type: 'always_fail',
      payload: { why: 'test' },
      error: { message: 'always fails' },
      history: [expect.objectContaining({ attempt: 1 })],
    });
    const second = await deadLetters(`?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.deadLetters[0]?.id).toBe(ids[0]);
    expect((await deadLetters('?cursor=junk')).status).toBe(400);
  });

  it('retries one at the tail of its client\'s queue: 202, it runs again and keeps its history', async () => {
    const client = await newClient(app());
    const id = await deadLetter(client, 'fail_first');
    const deadBefore = (await overview()).totals.deadLettered;
    // The client has work again meanwhile: the retry goes behind it.
    const head = await enqueued(app(), client, { type: 'sleep', payload: { ms: 1_500 } });
    await enqueued(app(), client, { type: 'noop' });
    await waitForStatus(app(), client, head.id, ['running']);
    const response = await retry(id);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ id, status: 'queued', position: 2 });
    expect((await overview()).totals.deadLettered).toBe(deadBefore - 1);
    expect((await retry(id)).body.error.code).toBe('not_retryable');
    // Listed once, as queued again, in id order although it sits at its queue's tail (small pages
    // make the list script pick it out of an unsorted queue).
    const listed = await listAll(app(), client, { limit: '1' });
    expect(listed.map((view) => view.id)).toEqual(listed.map((view) => view.id).sort().reverse());
    expect(listed.filter((view) => view.id === id)).toEqual([expect.objectContaining({ status: 'queued', position: 2 })]);
    const cured = await waitForStatus(app(), client, id, ['succeeded']);
    expect(cured).toMatchObject({ attempts: 1, result: { cured: true } });
    expect(cured.history).toHaveLength(1);
    const headDone = await waitForStatus(app(), client, head.id, ['succeeded']);
    expect(Date.parse(cured.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(headDone.finishedAt ?? ''));
  });

  it('answers 409 not_retryable for a request that did not fail, 404 for unknown and malformed ids', async () => {
    const client = await newClient(app());
    const { id } = await enqueued(app(), client, { type: 'noop' });
    await waitForStatus(app(), client, id, ['succeeded']);
    expect((await retry(id)).body.error.code).toBe('not_retryable');
    expect((await retry('01890000-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await retry('nope')).status).toBe(404);
  });
});
