/**
 * The whole path over real HTTP (fetch against the listening server, in-process worker): many
 * clients enqueue at once, one by one or in batches; each client's requests run one at a time in
 * enqueue order while the clients run side by side; results are dequeued in order; work left
 * pending at logout still runs and is archived.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { eventually } from '../helpers/engine.js';
import { fuzzSeed, Rng } from '../helpers/fuzz.js';
import { freshUsername } from '../helpers/http.js';
import type { Accepted, RequestView } from '../helpers/queue-api.js';

const CLIENTS = 50;
const PER_CLIENT = 20;
const BATCH = 5;
const PASSWORD = 'end to end password';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

interface Answer<T> {
  status: number;
  body: T;
}

async function http<T>(method: string, path: string, token?: string, body?: unknown): Promise<Answer<T>> {
  const response = await fetch(new URL(path, server.url), {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

interface Session {
  id: string;
  token: string;
}

async function signUp(): Promise<Session> {
  const username = freshUsername('e2e');
  const registered = await http<{ id: string }>('POST', '/api/auth/register', undefined, { username, password: PASSWORD });
  expect(registered.status).toBe(201);
  const tokens = await http<{ accessToken: string }>('POST', '/api/auth/login', undefined, { username, password: PASSWORD });
  expect(tokens.status).toBe(200);
  return { id: registered.body.id, token: tokens.body.accessToken };
}

/** Enqueues the client's sleeps one call at a time, or in batches of BATCH; returns the ids in order. */
async function enqueueAll(session: Session, sleeps: number[], batched: boolean): Promise<string[]> {
  const ids: string[] = [];
  const body = (ms: number) => ({ type: 'sleep', payload: { ms } });
  for (let at = 0; at < sleeps.length; at += batched ? BATCH : 1) {
    if (batched) {
      const answer = await http<{ requests: Accepted[] }>('POST', '/api/queue/enqueue', session.token, {
        requests: sleeps.slice(at, at + BATCH).map(body),
      });
      expect(answer.status).toBe(202);
      ids.push(...answer.body.requests.map((one) => one.id));
    } else {
      const answer = await http<Accepted>('POST', '/api/queue/enqueue', session.token, body(sleeps[at] as number));
      expect(answer.status).toBe(202);
      ids.push(answer.body.id);
    }
  }
  return ids;
}

/** The most intervals that share one moment (an interval ending when another starts does not overlap it). */
function peakOverlap(runs: { start: number; end: number }[]): number {
  const edges = runs.flatMap((run) => [[run.start, 1] as const, [run.end, -1] as const]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, change] of edges) {
    open += change;
    peak = Math.max(peak, open);
  }
  return peak;
}

describe(`${CLIENTS} clients × ${PER_CLIENT} sleep requests over HTTP`, () => {
  it('runs each client in order, one at a time, the clients side by side, and dequeues in order', { timeout: 180_000 }, async () => {
    const rng = new Rng(fuzzSeed(0xe2e));
    const sessions = await Promise.all(Array.from({ length: CLIENTS }, () => signUp()));
    const sleeps = sessions.map(() => Array.from({ length: PER_CLIENT }, () => rng.int(5, 20)));

    const ids = await Promise.all(sessions.map((session, index) => enqueueAll(session, sleeps[index] as number[], index % 2 === 1)));

    await eventually(async () => {
      const figures = await Promise.all(sessions.map((session) => http<{ succeeded: number }>('GET', '/api/queue', session.token)));
      return figures.every((answer) => answer.body.succeeded === PER_CLIENT);
    }, 120_000, 100);

    const runs: { start: number; end: number }[] = [];
    for (const [index, session] of sessions.entries()) {
      const page = await http<{ requests: RequestView[]; nextCursor?: string }>('GET', '/api/queue/requests?limit=100', session.token);
      const views = [...page.body.requests].reverse(); // oldest first
      expect(views.map((view) => view.id)).toEqual(ids[index]);
      expect(views.every((view) => view.status === 'succeeded' && view.attempts === 1)).toBe(true);
      expect(views.map((view) => (view.result as { sleptMs: number }).sleptMs)).toEqual(sleeps[index]);
      for (let i = 1; i < views.length; i += 1) {
        const previous = views[i - 1] as RequestView;
        const current = views[i] as RequestView;
        expect(Date.parse(current.startedAt ?? ''), `client ${index} request ${i}`).toBeGreaterThanOrEqual(Date.parse(previous.finishedAt ?? ''));
      }
      runs.push(...views.map((view) => ({ start: Date.parse(view.startedAt ?? ''), end: Date.parse(view.finishedAt ?? '') })));
    }
    // Side by side, judged by overlap rather than by wall time (which a loaded machine stretches):
    // run one client after another, no two requests would ever run at the same moment.
    expect(peakOverlap(runs), 'most requests running at one moment').toBeGreaterThanOrEqual(10);

    await Promise.all(
      sessions.map(async (session, index) => {
        const handed: string[] = [];
        for (let i = 0; i < PER_CLIENT; i += 1) {
          const answer = await http<RequestView>('GET', '/api/queue/dequeue', session.token);
          expect(answer.status).toBe(200);
          handed.push(answer.body.id);
        }
        expect(handed).toEqual(ids[index]);
        expect((await http('GET', '/api/queue/dequeue', session.token)).status).toBe(204);
      }),
    );
  });
});

describe('logout with pending work', () => {
  it('still runs the work, and its results land in the archive', { timeout: 60_000 }, async () => {
    const session = await signUp();
    const requests = Array.from({ length: 5 }, (_, index) => ({ type: 'sleep', payload: { ms: 100 + index } }));
    const accepted = await http<{ requests: Accepted[] }>('POST', '/api/queue/enqueue', session.token, { requests });
    expect(accepted.status).toBe(202);
    expect((await http('POST', '/api/auth/logout', session.token)).status).toBe(204);
    expect((await http('GET', '/api/queue', session.token)).status).toBe(401);

    const ids = accepted.body.requests.map((one) => one.id);
    const archived = async () =>
      (
        await server.pool.query<{ id: string; status: string; result: { sleptMs: number } }>(
          'SELECT id, status, result FROM requests WHERE client_id = $1 ORDER BY id',
          [session.id],
        )
      ).rows;
    await eventually(async () => (await archived()).length === ids.length, 30_000, 100);
    expect(await archived()).toEqual(ids.map((id, index) => ({ id, status: 'succeeded', result: { sleptMs: 100 + index } })));
  });
});
