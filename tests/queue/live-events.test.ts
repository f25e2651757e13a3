import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveEvents, eventId, resumeTime, type RequestEvent } from '../../src/queue/live-events.js';
import { closeRedis, connectRedis } from '../../src/redis/connect.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';

let fixture: EngineFixture;
let live: LiveEvents;
const subscriber = () => connectRedis(fixture.config, 'laneq-test-events');
let liveSubscriber: ReturnType<typeof subscriber>;

beforeAll(async () => {
  fixture = await engineFixture();
  liveSubscriber = subscriber();
  live = new LiveEvents(fixture.redis, liveSubscriber, fixture.engine.keys);
  await live.start();
});
afterAll(async () => {
  await live.stop();
  await closeRedis(liveSubscriber);
  await fixture.cleanup();
});

const request = (ms: number) => ({ type: 'sleep', payload: { ms }, maxAttempts: 1, timeoutMs: 5_000 });

describe('live request events', () => {
  it('delivers every transition of a watched client, in order, and rebuilds them for a resume', async () => {
    const seen: RequestEvent[] = [];
    const stop = await live.listen('watched', (event) => seen.push(event));
    const since = (await fixture.redis.time()).map(Number);
    const sinceMs = (since[0] ?? 0) * 1000 + Math.floor((since[1] ?? 0) / 1000) - 1;
    const accepted = await fixture.engine.enqueue('watched', [request(5), request(5), request(5)]);
    await fixture.startWorker();
    await eventually(() => seen.filter((event) => event.status === 'succeeded').length === 3);
    stop();

    for (const { id } of accepted) {
      expect(seen.filter((event) => event.id === id).map((event) => event.status)).toEqual(['queued', 'running', 'succeeded']);
    }
    const starts = seen.filter((event) => event.status === 'running').map((event) => event.id);
    expect(starts).toEqual(accepted.map((entry) => entry.id));

    const rebuilt = await fixture.engine.eventsSince('watched', sinceMs);
    expect(rebuilt.map((event) => [event.id, event.status])).toEqual(seen.map((event) => [event.id, event.status]));
    const lastQueued = rebuilt.findIndex((event) => event.status === 'running');
    const resumed = await fixture.engine.eventsSince('watched', resumeTime(eventId(rebuilt[lastQueued - 1] as RequestEvent)) ?? 0);
    expect(resumed.length).toBeLessThan(rebuilt.length);
    expect(resumed.at(-1)?.status).toBe('succeeded');
  });

  it('publishes nothing for a client nobody watches', async () => {
    const raw = subscriber();
    const messages: string[] = [];
    raw.on('message', (_channel: string, message: string) => messages.push(message));
    await raw.subscribe(...fixture.engine.keys.shards.map((shard) => shard.events));
    const { id } = (await fixture.engine.enqueue('unwatched', [request(0)]))[0] as { id: string };
    await eventually(async () => (await fixture.engine.get('unwatched', id))?.status === 'succeeded');
    const watchedId = (await fixture.engine.enqueue('watched-too', [request(0)]))[0]?.id;
    const stop = await live.listen('watched-too', () => undefined);
    const second = (await fixture.engine.enqueue('watched-too', [request(0)]))[0]?.id;
    await eventually(() => messages.some((message) => message.includes(`${second} succeeded`)));
    stop();
    await closeRedis(raw);
    expect(messages.some((message) => message.startsWith('unwatched '))).toBe(false);
    expect(watchedId).toBeDefined();
  });
});
