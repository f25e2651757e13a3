/** Live delivery over real HTTP: the SSE stream (with resume) and the dequeue long poll. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { enqueue, newClient, type Client } from '../helpers/queue-api.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

interface SseEvent {
  id: string;
  event: string;
  data: { id: string; status: string; attempt: number; at: string };
}

/** Opens the event stream and collects parsed events until `done` says enough (or 15 s pass). */
async function collect(client: Client, done: (events: SseEvent[]) => boolean, lastEventId?: string): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  const response = await fetch(new URL('/api/queue/events', server.url), {
    headers: { authorization: `Bearer ${client.token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const events: SseEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block.split('\n').filter((line) => !line.startsWith(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        );
        if (fields.data) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) } as SseEvent);
      }
      if (done(events)) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

const succeeded = (count: number) => (events: SseEvent[]) => events.filter((event) => event.event === 'succeeded').length >= count;

describe('GET /api/queue/events', () => {
  it('delivers every transition of my requests, in order, and resumes after a reconnect', async () => {
    const client = await newClient(server.app);
    const streaming = collect(client, succeeded(3));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const batch = await enqueue(server.app, client, { requests: [1, 2, 3].map((n) => ({ type: 'sleep', payload: { ms: 20 * n } })) });
    expect(batch.status).toBe(202);
    const ids = (batch.body as unknown as { requests: { id: string }[] }).requests.map((entry) => entry.id);
    const events = await streaming;

    for (const id of ids) {
      expect(events.filter((event) => event.data.id === id).map((event) => event.event)).toEqual(['queued', 'running', 'succeeded']);
    }
    const running = events.filter((event) => event.event === 'running').map((event) => event.data.id);
    expect(running).toEqual(ids);
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);

    // Reconnect after the first request's end: everything after it is replayed. Events of the
    // resume point's own millisecond may come again (their order across requests is unknown),
    // nothing older does.
    const firstEnd = events.findIndex((event) => event.event === 'succeeded');
    const resumePoint = events[firstEnd] as SseEvent;
    const later = events.slice(firstEnd + 1);
    const resumed = await collect(client, (seen) => later.every((event) => seen.some((again) => again.id === event.id)), resumePoint.id);
    expect(resumed.map((event) => event.id)).not.toContain(resumePoint.id);
    for (const event of later) expect(resumed.map((again) => again.id)).toContain(event.id);
    for (const event of resumed) {
      const isLater = later.some((after) => after.id === event.id);
      expect(isLater || event.data.at === resumePoint.data.at, `${event.id} replayed although older`).toBe(true);
    }
  });

  it('shows a client none of another client\u2019s events', async () => {
    const [alice, bob] = [await newClient(server.app), await newClient(server.app)];
    const streaming = collect(alice, succeeded(1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await enqueue(server.app, bob, { type: 'noop' });
    const own = await enqueue(server.app, alice, { type: 'sleep', payload: { ms: 30 } });
    const events = await streaming;
    expect(new Set(events.map((event) => event.data.id))).toEqual(new Set([own.body.id]));
  });

  it('needs a token', async () => {
    const response = await fetch(new URL('/api/queue/events', server.url));
    expect(response.status).toBe(401);
  });
});

describe('GET /api/queue/dequeue?wait', () => {
  it('answers as soon as a result arrives, from the shared subscription', async () => {
    const client = await newClient(server.app);
    const waiting = fetch(new URL('/api/queue/dequeue?wait=20', server.url), { headers: { authorization: `Bearer ${client.token}` } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const accepted = await enqueue(server.app, client, { type: 'echo', payload: { hello: 'world' } });
    const response = await waiting;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: accepted.body.id, status: 'succeeded', result: { hello: 'world' } });
  });

  it('holds no Redis connection per waiting poll or stream', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => newClient(server.app)));
    const controller = new AbortController();
    const polls = clients.map((client) =>
      fetch(new URL('/api/queue/dequeue?wait=5', server.url), { headers: { authorization: `Bearer ${client.token}` }, signal: controller.signal }).catch(() => undefined),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const list = (await server.redis.client('LIST')) as string;
    const eventConnections = list.split('\n').filter((line) => line.includes('name=laneq-api-events'));
    controller.abort();
    await Promise.all(polls);
    // This process's subscriber, plus at most the other test files' servers running meanwhile.
    const ours = eventConnections.filter((line) => line.includes(`sub=${server.config.QUEUE_SHARDS}`) || line.includes('psub='));
    expect(ours.length).toBeGreaterThanOrEqual(1);
    expect(eventConnections.length).toBeLessThan(clients.length);
  });
});
