import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { engineFixture, type EngineFixture } from '../helpers/engine.js';

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
    expect(await fixture.redis.llen(`${fixture.engine.keys.forClient('big').base}q:big`)).toBe(0);

    const accepted = await fixture.engine.enqueue('big', Array.from({ length: 1_500 }, () => noop));
    expect(accepted.map((entry) => entry.position)).toEqual(Array.from({ length: 1_500 }, (_, n) => n));
  });
});
