/**
 * The enqueue limits, set small here: payload size (413), body size (413), queue depth
 * (429 queue_full) and the per-client call rate (429 rate_limited with Retry-After).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import { enqueue, newClient, type Accepted, type Client } from '../helpers/queue-api.js';

const PAYLOAD_LIMIT = 1_024;
const BODY_LIMIT = 8_192;
const DEPTH = 5;
const RATE = 5;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({
    PAYLOAD_LIMIT_BYTES: String(PAYLOAD_LIMIT),
    ENQUEUE_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    MAX_QUEUE_DEPTH: String(DEPTH),
    RATE_LIMIT_ENQUEUE_PER_S: String(RATE),
  });
});
afterAll(async () => {
  await server.stop();
});

const app = () => server.app;
const stats = (client: Client) => call<Record<string, number>>(app(), 'GET', '/api/queue', { token: client.token });
/** An echo payload whose JSON text is exactly `bytes` long. */
const payloadOf = (bytes: number) => 'x'.repeat(bytes - 2);

describe('payload and body limits', () => {
  it('answers 413 payload_too_large for a payload over PAYLOAD_LIMIT_BYTES, and takes one at the limit', async () => {
    const client = await newClient(app());
    expect((await enqueue(app(), client, { type: 'echo', payload: payloadOf(PAYLOAD_LIMIT) })).status).toBe(202);
    const over = await enqueue(app(), client, { type: 'echo', payload: payloadOf(PAYLOAD_LIMIT + 1) });
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: 'payload_too_large', details: { field: 'payload', limitBytes: PAYLOAD_LIMIT } });
  });

  it('refuses a batch whole when one payload is too large, naming its index', async () => {
    const client = await newClient(app());
    const batch = { requests: [{ type: 'noop' }, { type: 'echo', payload: payloadOf(PAYLOAD_LIMIT + 10) }] };
    const response = await enqueue(app(), client, batch);
    expect(response.status).toBe(413);
    expect(response.body.error.details).toEqual({ field: 'requests[1].payload', limitBytes: PAYLOAD_LIMIT });
    expect((await stats(client)).body).toMatchObject({ pending: 0, running: 0, succeeded: 0 });
  });

  it('answers 413 for an enqueue body over ENQUEUE_BODY_LIMIT_BYTES, even of small payloads', async () => {
    const client = await newClient(app());
    const requests = Array.from({ length: 40 }, () => ({ type: 'echo', payload: payloadOf(300) }));
    const response = await enqueue(app(), client, { requests });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
  });
});

describe('queue depth', () => {
  it('answers 429 queue_full past MAX_QUEUE_DEPTH, without Retry-After, enqueuing nothing of that call', async () => {
    const client = await newClient(app());
    const head = { type: 'sleep', payload: { ms: 2_000 } };
    expect((await enqueue(app(), client, { requests: [head, { type: 'noop' }, { type: 'noop' }, { type: 'noop' }] })).status).toBe(202);
    const full = await enqueue(app(), client, { requests: [{ type: 'noop' }, { type: 'noop' }] });
    expect(full.status).toBe(429);
    expect(full.body.error.code).toBe('queue_full');
    expect(full.headers['retry-after']).toBeUndefined();
    const figures = (await stats(client)).body;
    expect((figures.pending ?? 0) + (figures.running ?? 0)).toBe(4);
    expect((await enqueue(app(), client, { type: 'noop' })).status).toBe(202);
    expect((await enqueue(app(), client, { type: 'noop' })).body.error.code).toBe('queue_full');
    // Another client's queue is its own.
    expect((await enqueue(app(), await newClient(app()), { type: 'noop' })).status).toBe(202);
  });
});

describe('enqueue rate', () => {
  it('answers 429 rate_limited with Retry-After past RATE_LIMIT_ENQUEUE_PER_S calls per second per client', async () => {
    const client = await newClient(app());
    const other = await newClient(app());
    const answers = await Promise.all(Array.from({ length: RATE + 3 }, () => enqueue<Accepted & { error: { code: string; details: unknown } }>(app(), client, { type: 'noop' })));
    const limited = answers.filter((answer) => answer.status === 429);
    expect(answers.filter((answer) => answer.status === 202)).toHaveLength(RATE);
    expect(limited).toHaveLength(3);
    for (const answer of limited) {
      expect(answer.body.error).toEqual({ code: 'rate_limited', message: expect.any(String), details: { retryAfterSeconds: 1 } });
      expect(answer.headers['retry-after']).toBe('1');
    }
    // Per client: another client is not held back.
    expect((await enqueue(app(), other, { type: 'noop' })).status).toBe(202);
    // A second later the client may enqueue again.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await enqueue(app(), client, { type: 'noop' })).status).toBe(202);
  });
});
