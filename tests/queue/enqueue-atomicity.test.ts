import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { engineFixture, type EngineFixture } from '../helpers/engine.js';
import { backlogIds } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture({ MAX_QUEUE_DEPTH: '1500' });
});
afterAll(async () => {
  await fixture.cleanup();
});

const noop = { type: 'noop', payload: null, maxAttempts: 1, timeoutMs: 1_000 };

describe('enqueue of one client', () => {
  it('is all or none even above the bulk chunk size', async () => {
    const refused = await fixture.engine.enqueue('big', Array.from({ length: 2_000 }, () => noop)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('queue_full');
    const { base } = fixture.engine.keys.forClient('big');
    expect(await fixture.redis.llen(`${base}q:big`)).toBe(0);
    expect(await fixture.redis.hexists(`${base}heads`, 'big')).toBe(0);

    const accepted = await fixture.engine.enqueue('big', Array.from({ length: 1_500 }, () => noop));
    expect(accepted.map((entry) => entry.position)).toEqual(Array.from({ length: 1_500 }, (_, n) => n));
  });
});

/** The deadline an engine gives a call it sends now (Redis runs on this host: same clock). */
const inTime = () => Date.now() + 20_000;

describe('an enqueue call sent twice', () => {
  // ioredis sends a command again after a reconnect when the reply to the first send was lost:
  // the script must then answer for the requests it already queued instead of queuing them again.
  it('queues its requests once, and answers the second send with their current state', async () => {
    const shard = fixture.engine.keys.forClient('resent');
    const ids = ['01900000-0000-7000-8000-000000000001', '01900000-0000-7000-8000-000000000002'];
    const args = [100, 60_000, '', '', 0, inTime(), ...ids.flatMap((id) => ['resent', id, 'noop', 'null', 1, 1_000, ''])];
    const first = await fixture.engine.scripts.run('enqueue', shard, args);
    const second = await fixture.engine.scripts.run('enqueue', shard, args);
    expect(first).toEqual([
      [ids[0], 'queued', 0],
      [ids[1], 'queued', 1],
    ]);
    expect(second).toEqual(first);
    // The first is the client's head; the second alone waits behind it.
    expect(JSON.parse((await fixture.redis.hget(`${shard.base}heads`, 'resent')) ?? '{}')).toMatchObject({ i: ids[0] });
    expect(await backlogIds(fixture.engine, 'resent')).toEqual([ids[1]]);
    expect(await fixture.redis.lrange(shard.keys[0] as string, 0, -1)).toEqual(['resent']);
  });

  it('tells a repeat by its last new request, also when idempotency keys and other clients are in the call', async () => {
    // Two clients of one shard; the middle request names an idempotency key an earlier call used.
    const shard = fixture.engine.keys.forClient('resent-a');
    let other = 'resent-b';
    for (let n = 0; fixture.engine.keys.forClient(other).index !== shard.index; n += 1) other = `resent-b${n}`;
    const earlier = '01900000-0000-7000-8000-0000000000a0';
    const ids = ['01900000-0000-7000-8000-0000000000a1', '01900000-0000-7000-8000-0000000000a2', '01900000-0000-7000-8000-0000000000a3'];
    const group = (client: string, id: string, key: string) => [client, id, 'noop', 'null', 1, 1_000, key];
    await fixture.engine.scripts.run('enqueue', shard, [100, 60_000, '', '', 0, inTime(), ...group('resent-a', earlier, 'key-1')]);
    const args = [
      100, 60_000, '', '', 0, inTime(),
      ...group('resent-a', ids[0] as string, ''),
      ...group('resent-a', ids[1] as string, 'key-1'),
      ...group(other, ids[2] as string, ''),
    ];
    const first = await fixture.engine.scripts.run('enqueue', shard, args);
    expect(first).toEqual([
      [ids[0], 'queued', 1],
      [earlier, 'queued', 0],
      [ids[2], 'queued', 0],
    ]);
    expect(await fixture.engine.scripts.run('enqueue', shard, args)).toEqual(first);
    expect(await backlogIds(fixture.engine, 'resent-a')).toEqual([ids[0]]);
    expect(await fixture.redis.llen(`${shard.base}q:${other}`)).toBe(0);
  });

  it('is told as a repeat also after other calls queued behind its requests, and leaves a mark that expires', async () => {
    const shard = fixture.engine.keys.forClient('resent-late');
    const id = '01900000-0000-7000-8000-0000000000b1';
    const args = [100, 60_000, '', '', 0, inTime(), 'resent-late', id, 'noop', 'null', 1, 1_000, ''];
    await fixture.engine.enqueue('resent-late', [noop, noop]);
    const [first] = (await fixture.engine.scripts.run('enqueue', shard, args)) as [string, string, number][];
    await fixture.engine.enqueue('resent-late', [noop, noop]);
    expect(await fixture.engine.scripts.run('enqueue', shard, args)).toEqual([first]);
    expect(first).toEqual([id, 'queued', 2]);
    expect((await backlogIds(fixture.engine, 'resent-late')).filter((queued) => queued === id)).toHaveLength(1);
    expect(await fixture.redis.llen(`${shard.base}q:resent-late`)).toBe(2 * 4);
    const [marks] = await fixture.redis.keys(`${shard.base}calls:*`).then((keys) => keys.sort().reverse());
    expect(await fixture.redis.pttl(marks as string)).toBeGreaterThan(0);
  });

  it('is refused with nothing written once its deadline has passed', async () => {
    const shard = fixture.engine.keys.forClient('late');
    const args = [100, 60_000, '', '', 0, Date.now() - 1, 'late', '01900000-0000-7000-8000-0000000000c1', 'noop', 'null', 1, 1_000, ''];
    await expect(fixture.engine.scripts.run('enqueue', shard, args)).rejects.toThrow(/LATE_CALL/);
    expect(await fixture.redis.hexists(`${shard.base}heads`, 'late')).toBe(0);
    expect(await fixture.redis.lrange(shard.keys[0] as string, 0, -1)).not.toContain('late');
  });
});
