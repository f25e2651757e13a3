/**
 * The SDK (laneq/client) against a real server (Redis, PostgreSQL, in-process worker), through
 * the SDK only: every call, transparent token renewal, typed errors, an event stream that is cut
 * and resumes without losing or repeating an event, waitFor, and dequeue order.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, LaneqError, type FetchLike, type LaneqClient, type QueueEvent, type SharedTokens } from '../../src/client/index.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { UserStore } from '../../src/auth/users.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { freshUsername } from '../helpers/http.js';

const PASSWORD = 'sdk test password';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ ACCESS_TOKEN_TTL_S: '30' });
});
afterAll(async () => {
  await server.stop();
});

/** A fetch that records every call (method, path, headers) before passing it on. */
function recordingFetch(inner: FetchLike = (input, init) => fetch(input, init)) {
  const calls: { method: string; path: string; headers: Record<string, string> }[] = [];
  const wrapped: FetchLike = (input, init) => {
    calls.push({ method: init?.method ?? 'GET', path: new URL(input).pathname, headers: { ...(init?.headers as Record<string, string>) } });
    return inner(input, init);
  };
  return { calls, fetch: wrapped };
}

async function signedIn(fetchFn?: FetchLike): Promise<{ client: LaneqClient; username: string }> {
  const client = createClient({ baseUrl: server.url, ...(fetchFn ? { fetch: fetchFn } : {}) });
  const username = freshUsername('sdk');
  await client.register(username, PASSWORD);
  await client.login(username, PASSWORD);
  return { client, username };
}

async function rejection(promise: Promise<unknown>): Promise<LaneqError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LaneqError);
  return error as LaneqError;
}

describe('auth', () => {
  it('registers, logs in, says who I am and logs out', async () => {
    const seen: unknown[] = [];
    const client = createClient({ baseUrl: server.url, onTokens: (tokens) => seen.push(tokens) });
    const username = freshUsername('sdk');
    const registered = await client.register(username, PASSWORD);
    expect(registered).toEqual({ id: expect.any(String), username });
    const tokens = await client.login(username, PASSWORD);
    expect(tokens.expiresAt).toBeGreaterThan(Date.now() + 25_000);
    expect(seen).toEqual([tokens]);
    expect(await client.me()).toEqual({ id: registered.id, username, role: 'user' });

    await client.logout();
    expect(client.getTokens()).toBeUndefined();
    expect(seen.at(-1)).toBeUndefined();
    const error = await rejection(client.me());
    expect([error.status, error.code]).toEqual([401, 'unauthorized']);
    // The revoked session's access token stays refused.
    client.setTokens(tokens);
    expect((await rejection(client.me())).status).toBe(401);
  });

  it('answers typed errors with the server\u2019s code, status, message and details', async () => {
    const { client, username } = await signedIn();
    const wrong = await rejection(client.login(username, 'not the password'));
    expect(wrong).toMatchObject({ name: 'LaneqError', status: 401, code: 'invalid_credentials' });
    expect(wrong.requestId).toEqual(expect.any(String));
    const taken = await rejection(client.register(username.toUpperCase(), PASSWORD));
    expect([taken.status, taken.code]).toEqual([409, 'username_taken']);
    const unknown = await rejection(client.enqueue({ type: 'no_such_type' }));
    expect(unknown).toMatchObject({ status: 400, code: 'unknown_type', details: { type: 'no_such_type', field: 'type' } });
    expect(unknown.message).toEqual(expect.any(String));
    const invalid = await rejection(client.enqueue([{ type: 'sleep', payload: { ms: -1 } }]));
    expect(invalid.code).toBe('validation_failed');
    expect(invalid.details).toEqual([expect.objectContaining({ field: expect.stringContaining('requests[0].payload') })]);
    const missing = await rejection(client.get('00000000-0000-7000-8000-000000000000'));
    expect([missing.status, missing.code]).toEqual([404, 'not_found']);
  });

  it('reports a fetch that gets no answer as a network error', async () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:9' });
    const error = await rejection(client.register(freshUsername('sdk'), PASSWORD));
    expect([error.status, error.code]).toEqual([0, 'network']);
    expect(error.cause).toBeDefined();
  });
});

describe('token renewal', () => {
  it('renews a refused access token with the refresh token and retries the call once', async () => {
    const recorder = recordingFetch();
    const { client } = await signedIn(recorder.fetch);
    const before = client.getTokens();
    if (!before) throw new Error('not signed in');
    client.setTokens({ ...before, accessToken: `${before.accessToken}corrupted` });
    recorder.calls.length = 0;

    expect((await client.me()).role).toBe('user');
    expect(recorder.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'GET /api/auth/me',
      'POST /api/auth/refresh',
      'GET /api/auth/me',
    ]);
    const after = client.getTokens();
    expect(after?.accessToken).not.toBe(before.accessToken);
    expect(after?.refreshToken).not.toBe(before.refreshToken);
  });

  it('renews before expiry, without a refused call first', async () => {
    const recorder = recordingFetch();
    const { client } = await signedIn(recorder.fetch);
    const before = client.getTokens();
    if (!before) throw new Error('not signed in');
    client.setTokens({ ...before, expiresAt: Date.now() + 500 });
    recorder.calls.length = 0;
    await client.stats();
    expect(recorder.calls.map((call) => `${call.method} ${call.path}`)).toEqual(['POST /api/auth/refresh', 'GET /api/queue']);
    expect(client.getTokens()?.expiresAt).toBeGreaterThan(Date.now() + 25_000);
  });

  it('shares one refresh among concurrent calls (a refresh token is single-use)', async () => {
    const recorder = recordingFetch();
    const { client } = await signedIn(recorder.fetch);
    const before = client.getTokens();
    if (!before) throw new Error('not signed in');
    client.setTokens({ ...before, accessToken: 'corrupted' });
    recorder.calls.length = 0;
    const answers = await Promise.all([client.me(), client.stats(), client.types(), client.list()]);
    expect(answers).toHaveLength(4);
    expect(recorder.calls.filter((call) => call.path === '/api/auth/refresh')).toHaveLength(1);
  });

  it('with sharedTokens, holders of one stored session renew it once between them', async () => {
    // Three clients (think: three processes of one user) restore the same stored, expired pair.
    const { client: first } = await signedIn();
    let stored = first.getTokens();
    if (!stored) throw new Error('not signed in');
    stored = { ...stored, expiresAt: 0 };
    let lock = Promise.resolve();
    const sharedTokens: SharedTokens = {
      read: () => stored,
      exclusive: <T>(renew: () => Promise<T>): Promise<T> => {
        const turn = lock.then(renew);
        lock = turn.then(
          () => undefined,
          () => undefined,
        );
        return turn;
      },
    };
    const recorder = recordingFetch();
    const holders = Array.from({ length: 3 }, () => {
      const holder = createClient({ baseUrl: server.url, fetch: recorder.fetch, sharedTokens, onTokens: (tokens) => (stored = tokens) });
      holder.setTokens(stored);
      return holder;
    });
    const answers = await Promise.all(holders.map((holder) => holder.me()));
    expect(new Set(answers.map((me) => me.username)).size).toBe(1);
    expect(recorder.calls.filter((call) => call.path === '/api/auth/refresh')).toHaveLength(1);
    // Everybody holds the renewed pair, and it works (the old refresh token was spent only once).
    const renewed = holders.map((holder) => holder.getTokens()?.refreshToken);
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).not.toBe(first.getTokens()?.refreshToken);
    await expect(holders[0]?.stats()).resolves.toMatchObject({ pending: 0 });
  });

  it('signs out and throws when the refresh itself is refused', async () => {
    const seen: unknown[] = [];
    const client = createClient({ baseUrl: server.url, onTokens: (tokens) => seen.push(tokens) });
    const username = freshUsername('sdk');
    await client.register(username, PASSWORD);
    const tokens = await client.login(username, PASSWORD);
    client.setTokens({ ...tokens, accessToken: 'corrupted', refreshToken: 'not a refresh token' });
    const error = await rejection(client.me());
    expect([error.status, error.code]).toEqual([401, 'invalid_refresh_token']);
    expect(client.getTokens()).toBeUndefined();
    expect(seen.at(-1)).toBeUndefined();
  });
});

describe('queue calls', () => {
  it('enqueues one and many, reads, lists, cancels, counts and lists types', async () => {
    const { client } = await signedIn();
    const types = await client.types();
    expect(types.types.map((entry) => entry.type)).toEqual(expect.arrayContaining(['noop', 'echo', 'sleep', 'http']));

    const blocker = await client.enqueue({ type: 'sleep', payload: { ms: 1_500 } });
    expect(blocker).toMatchObject({ id: expect.any(String), status: 'queued', position: 0 });
    const batch = await client.enqueue([
      { type: 'echo', payload: { n: 1 } },
      { type: 'echo', payload: { n: 2 }, idempotencyKey: 'two' },
    ]);
    expect(batch.map((one) => [one.status, one.position])).toEqual([
      ['queued', 1],
      ['queued', 2],
    ]);
    const [first, second] = batch as [(typeof batch)[0], (typeof batch)[0]];
    expect((await client.enqueue({ type: 'echo', payload: { n: 2 }, idempotencyKey: 'two' })).id).toBe(second.id);

    const read = await client.get(first.id);
    expect(read).toMatchObject({ id: first.id, type: 'echo', status: 'queued', payload: { n: 1 }, history: [] });
    expect((await client.cancel(second.id)).status).toBe('cancelled');
    await client.waitFor(blocker.id);
    expect((await rejection(client.cancel(blocker.id))).code).toBe('not_cancellable');

    const page = await client.list({ limit: 2 });
    expect(page.requests.map((one) => one.id)).toEqual([second.id, first.id]);
    expect(page.nextCursor).toEqual(expect.any(String));
    const rest = await client.list({ limit: 2, cursor: page.nextCursor as string });
    expect(rest.requests.map((one) => one.id)).toEqual([blocker.id]);
    expect(rest.nextCursor).toBeUndefined();
    expect((await client.list({ status: 'cancelled' })).requests.map((one) => one.id)).toEqual([second.id]);

    await client.waitFor(first.id);
    expect(await client.stats()).toMatchObject({ pending: 0, running: 0, succeeded: 2, cancelled: 1, failed: 0 });
  });

  it('dequeues finished requests oldest first, then answers undefined', async () => {
    const { client } = await signedIn();
    const accepted = await client.enqueue([1, 2, 3].map((n) => ({ type: 'echo', payload: n })));
    const taken = [];
    for (let i = 0; i < 3; i += 1) taken.push(await client.dequeue({ wait: 10 }));
    expect(taken.map((one) => [one?.id, one?.status, one?.result])).toEqual(accepted.map((one, i) => [one.id, 'succeeded', i + 1]));
    expect(await client.dequeue()).toBeUndefined();
    expect(await client.dequeue({ wait: 1 })).toBeUndefined();
  });
});

describe('admin calls', () => {
  it('reads the totals and the deepest queues, lists dead letters and retries one; a user gets 403', async () => {
    const { client: user } = await signedIn();
    // A sleep that outlives its timeout fails; with one attempt it is dead-lettered at once.
    const doomed = await user.enqueue({ type: 'sleep', payload: { ms: 5_000 }, timeoutMs: 50, maxAttempts: 1 });
    expect((await user.waitFor(doomed.id)).status).toBe('failed');
    const done = await user.enqueue({ type: 'noop' });
    expect((await user.waitFor(done.id)).status).toBe('succeeded');
    await user.enqueue([{ type: 'sleep', payload: { ms: 1_000 } }, { type: 'noop' }]);

    const admin = createClient({ baseUrl: server.url });
    const name = freshUsername('sdkadmin');
    await new UserStore(server.pool).upsertAdmin(name, await hashPassword(PASSWORD));
    await admin.login(name, PASSWORD);
    const overview = await admin.admin.overview({ top: 5 });
    expect(overview.totals.pending).toBeGreaterThanOrEqual(1);
    expect(overview.deepestQueues.length).toBeLessThanOrEqual(5);
    expect(overview.deepestQueues[0]?.pending).toBeGreaterThanOrEqual(1);
    const letters = await admin.admin.deadLetters({ limit: 100 });
    expect(letters.deadLetters.find((one) => one.id === doomed.id)).toMatchObject({ status: 'failed', clientId: expect.any(String) });

    expect(await admin.admin.retry(doomed.id)).toMatchObject({ id: doomed.id, status: 'queued', position: expect.any(Number) });
    expect((await rejection(admin.admin.retry(done.id))).code).toBe('not_retryable');
    expect((await rejection(user.admin.overview())).status).toBe(403);
    expect((await rejection(user.admin.retry(doomed.id))).code).toBe('forbidden');
  });
});

describe('waitFor', () => {
  it('answers the final record of a request that is still running, one already final and a failed one', async () => {
    const { client } = await signedIn();
    const slow = await client.enqueue({ type: 'sleep', payload: { ms: 300 } });
    const final = await client.waitFor(slow.id, { timeoutMs: 10_000 });
    expect(final).toMatchObject({ id: slow.id, status: 'succeeded', result: { sleptMs: expect.any(Number) } });
    expect(await client.waitFor(slow.id)).toMatchObject({ status: 'succeeded' });

    const failing = await client.enqueue({ type: 'sleep', payload: { ms: 200 }, timeoutMs: 10, maxAttempts: 1 });
    expect(await client.waitFor(failing.id, { timeoutMs: 10_000 })).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('gives up with a timeout error, and honours its signal', async () => {
    const { client } = await signedIn();
    const slow = await client.enqueue({ type: 'sleep', payload: { ms: 3_000 } });
    const error = await rejection(client.waitFor(slow.id, { timeoutMs: 300 }));
    expect(error.code).toBe('timeout');
    const controller = new AbortController();
    const waiting = client.waitFor(slow.id, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 100);
    await expect(waiting).rejects.toThrow('stop');
  });

  it('falls back to polling when the event stream is refused', async () => {
    const recorder = recordingFetch(async (input, init) =>
      new URL(input).pathname === '/api/queue/events'
        ? new Response(JSON.stringify({ error: { code: 'forbidden', message: 'no streams here' } }), { status: 403 })
        : fetch(input, init),
    );
    const { client } = await signedIn(recorder.fetch);
    const slow = await client.enqueue({ type: 'sleep', payload: { ms: 200 } });
    expect(await client.waitFor(slow.id, { pollIntervalMs: 100, timeoutMs: 10_000 })).toMatchObject({ status: 'succeeded' });
    expect(recorder.calls.filter((call) => call.path.startsWith('/api/queue/requests/')).length).toBeGreaterThan(1);
  });
});

/**
 * A fetch whose event streams break (as a dropped connection does) after `cutAfter` new events
 * each (events sent again after a reconnect do not count): the response body is re-chunked
 * message by message and errors once that many have passed, losing what the reader had not read.
 */
function cuttingFetch(cutAfter: number) {
  const opened: (string | undefined)[] = [];
  const everPassed = new Set<string>();
  const cut: FetchLike = async (input, init) => {
    const response = await fetch(input, init);
    if (new URL(input).pathname !== '/api/queue/events' || !response.body) return response;
    opened.push((init?.headers as Record<string, string>)['last-event-id']);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let buffer = '';
    let passed = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end + 2);
          buffer = buffer.slice(end + 2);
          controller.enqueue(encoder.encode(message));
          const id = /^id: (.*)$/m.exec(message)?.[1];
          if (id !== undefined && !everPassed.has(id)) passed += 1;
          if (id !== undefined) everPassed.add(id);
          if (passed >= cutAfter) {
            await reader.cancel();
            controller.error(new TypeError('connection reset'));
            return;
          }
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: cut, opened };
}

describe('events', () => {
  it('delivers every transition exactly once, in order, across dropped connections', async () => {
    const cutter = cuttingFetch(2);
    const { client } = await signedIn(cutter.fetch);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 20_000);
    const receivedAtOpen: number[] = [];
    const received: QueueEvent[] = [];
    let opened!: () => void;
    const firstOpen = new Promise<void>((resolve) => (opened = resolve));
    const reading = (async () => {
      for await (const event of client.events({ signal: controller.signal, minDelayMs: 20, onOpen: () => (receivedAtOpen.push(received.length), opened()) })) {
        received.push(event);
        if (received.filter((one) => one.status === 'succeeded').length === 5) break;
      }
    })();
    await firstOpen;
    // A first request runs while the batch is enqueued, so no request starts in the millisecond
    // its batch was queued in (see the report on the server's same-millisecond ordering).
    const first = await client.enqueue({ type: 'sleep', payload: { ms: 100 } });
    const accepted = await client.enqueue([1, 2, 3, 4].map((n) => ({ type: 'sleep', payload: { ms: 30 * n } })));
    await reading;
    clearTimeout(timer);
    const ids = [first.id, ...accepted.map((one) => one.id)];
    if (received.length !== 15) console.error(JSON.stringify({ ids, opened: cutter.opened, received: received.map((e) => e.eventId) }, null, 1));

    for (const id of ids) {
      expect(received.filter((event) => event.id === id).map((event) => event.status)).toEqual(['queued', 'running', 'succeeded']);
    }
    expect(received).toHaveLength(15);
    expect(received.filter((event) => event.status === 'running').map((event) => event.id)).toEqual(ids);
    expect(new Set(received.map((event) => event.eventId)).size).toBe(15);
    expect(received.every((event) => event.attempt >= 0 && !Number.isNaN(Date.parse(event.at)))).toBe(true);
    // It was cut every two events (an event in flight at the cut may be lost with the connection),
    // and each reconnect resumed from the last event seen (one millisecond early: see events.ts).
    expect(receivedAtOpen.length).toBeGreaterThanOrEqual(7);
    expect(cutter.opened).toHaveLength(receivedAtOpen.length);
    expect(cutter.opened[0]).toBeUndefined();
    for (let i = 1; i < cutter.opened.length; i += 1) {
      const [ms, ...rest] = (received[(receivedAtOpen[i] as number) - 1]?.eventId ?? '').split('.');
      expect(cutter.opened[i]).toBe([Number(ms) - 1, ...rest].join('.'));
    }
  });

  it('resumes a millisecond early and drops what it saw, so a same-millisecond event is not skipped', async () => {
    // A scripted stream: the server orders one millisecond's events by request id, so an event
    // of request `a` that happened after `c`'s in the same millisecond sorts before it.
    const frame = (at: number, id: string, status: string) =>
      `id: ${at}.${id}.${status}\nevent: ${status}\ndata: ${JSON.stringify({ id, status, attempt: 0, at: new Date(at).toISOString() })}\n\n`;
    const sent: (string | undefined)[] = [];
    const scripted: FetchLike = async (_input, init) => {
      sent.push((init?.headers as Record<string, string>)['last-event-id']);
      const body = sent.length === 1
        ? `: connected\n\n${frame(100, 'b', 'queued')}${frame(100, 'c', 'queued')}`
        : `: connected\r\n\r\n${frame(100, 'b', 'queued')}${frame(100, 'c', 'queued')}${frame(100, 'a', 'running')}${frame(101, 'a', 'succeeded')}`;
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    };
    const client = createClient({ baseUrl: 'http://laneq.invalid', fetch: scripted });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const event of client.events({ signal: controller.signal, minDelayMs: 1 })) {
      seen.push(event.eventId);
      if (seen.length === 4) controller.abort();
    }
    expect(seen).toEqual(['100.b.queued', '100.c.queued', '100.a.running', '101.a.succeeded']);
    expect(sent).toEqual([undefined, '99.c.queued']);
  });

  it('resumes from a lastEventId given by the caller, and stops when its signal aborts', async () => {
    const { client } = await signedIn();
    const accepted = await client.enqueue([{ type: 'noop' }, { type: 'noop' }]);
    await client.waitFor((accepted[1] as { id: string }).id);
    const controller = new AbortController();
    const all: QueueEvent[] = [];
    for await (const event of client.events({ lastEventId: `1.${'0'.repeat(36)}.queued`, signal: controller.signal })) {
      all.push(event);
      if (all.length === 6) setTimeout(() => controller.abort(), 200);
    }
    expect(all.map((event) => event.status)).toEqual(expect.arrayContaining(['queued', 'running', 'succeeded']));
    expect(all).toHaveLength(6);
    const third = all[2] as QueueEvent;
    const resumed: QueueEvent[] = [];
    const again = new AbortController();
    const later = all.slice(3);
    const seenAll = () => later.every((event) => resumed.some((got) => got.eventId === event.eventId));
    for await (const event of client.events({ lastEventId: third.eventId, signal: again.signal })) {
      resumed.push(event);
      if (seenAll()) setTimeout(() => again.abort(), 200);
    }
    // Everything after the resume point comes again, each request's events in order (requests of
    // one millisecond may interleave differently); the server may also repeat other events of the
    // resume point's own millisecond (never the resume event itself), nothing older.
    const byRequest = (events: QueueEvent[]) =>
      [...new Set(events.map((event) => event.id))].sort().map((id) => events.filter((event) => event.id === id).map((event) => event.eventId));
    const replayedLater = resumed.filter((event) => later.some((after) => after.eventId === event.eventId));
    expect(byRequest(replayedLater)).toEqual(byRequest(later));
    expect(resumed.map((event) => event.eventId)).not.toContain(third.eventId);
    for (const event of resumed) {
      expect(later.some((after) => after.eventId === event.eventId) || event.at === third.at).toBe(true);
    }
  });

  it('throws when the session is gone instead of reconnecting forever', async () => {
    const { client } = await signedIn();
    await client.logout();
    const error = await rejection((async () => {
      for await (const _event of client.events()) break;
    })());
    expect(error.code).toBe('unauthorized');
  });
});

describe('portability', () => {
  it('imports nothing from Node or the server at runtime', () => {
    const folder = join(import.meta.dirname, '../../src/client');
    const files = readdirSync(folder).filter((name) => name.endsWith('.ts'));
    expect(files).toEqual(expect.arrayContaining(['index.ts', 'http.ts', 'tokens.ts', 'events.ts']));
    for (const name of files) {
      const source = readFileSync(join(folder, name), 'utf8');
      // Whole import/export statements, possibly spanning lines.
      const statements = source.match(/^(?:import|export)\b[^;]*?\bfrom\s+['"][^'"]+['"];?|^import\s+['"][^'"]+['"];?/gms) ?? [];
      for (const statement of statements) {
        const specifier = /['"]([^'"]+)['"];?$/.exec(statement)?.[1] ?? '';
        const typeOnly = /^(?:import|export)\s+type\b/.test(statement);
        if (typeOnly) continue;
        expect(specifier, `${name}: ${statement}`).toMatch(/^\.\/[a-z-]+\.js$/);
      }
      expect(source, name).not.toMatch(/\brequire\(|\bimport\(|\bprocess\.|\bBuffer\b/);
    }
  });
});

describe('rate limits', () => {
  it('says how long the server asked to wait (Retry-After) on 429 rate_limited', async () => {
    const limited = await startTestServer({ RATE_LIMIT_ENQUEUE_PER_S: '2' });
    try {
      const client = createClient({ baseUrl: limited.url });
      const username = freshUsername('sdk-rl');
      await client.register(username, PASSWORD);
      await client.login(username, PASSWORD);
      const outcomes = await Promise.allSettled([1, 2, 3].map(() => client.enqueue({ type: 'noop' })));
      const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
      expect(refused).toHaveLength(1);
      const error = refused[0]?.reason as LaneqError;
      expect(error).toBeInstanceOf(LaneqError);
      expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 1 });
    } finally {
      await limited.stop();
    }
  });
});
