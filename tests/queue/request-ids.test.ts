import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../src/queue/request-ids.js';

describe('request ids', () => {
  it('are valid, distinct UUIDv7 that increase in the order they were made, many per millisecond', () => {
    const before = Date.now();
    const ids = Array.from({ length: 100_000 }, () => newRequestId());
    const after = Date.now();
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0], ids[50_000], ids.at(-1)] as string[]) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
      expect(id[19]).toMatch(/[89ab]/); // RFC 9562 variant
    }
    expect(ids.every((id, n) => n === 0 || id > (ids[n - 1] as string))).toBe(true);
    const stamp = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(stamp(ids[0] as string)).toBeGreaterThanOrEqual(before);
    expect(stamp(ids.at(-1) as string)).toBeLessThanOrEqual(after + 1);
  });

  it('keep increasing when the clock stands still or steps back', () => {
    const now = Date.now() + 60_000;
    const ids = [newRequestId(now), newRequestId(now), newRequestId(now - 5_000), newRequestId(now)];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(4);
  });
});
