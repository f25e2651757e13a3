import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { checkOrder, engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture();
});
afterAll(async () => {
  await fixture.cleanup();
});

describe('engine smoke', () => {
  it('runs 20 clients × 10 sleep requests in per-client order and archives them', async () => {
    const clients = Array.from({ length: 20 }, (_, n) => `client-${n}`);
    const ids = new Map<string, string[]>();
    for (const client of clients) {
      const accepted = await fixture.engine.enqueue(
        client,
        Array.from({ length: 10 }, (_, n) => ({ type: 'sleep', payload: { ms: n % 3 }, maxAttempts: 3, timeoutMs: 5_000 })),
      );
      ids.set(client, accepted.map((entry) => entry.id));
    }
    await fixture.startWorker();
    await eventually(async () => {
      const { rows } = await fixture.pool.query<{ count: string }>('SELECT count(*) FROM requests');
      return Number(rows[0]?.count) === 200;
    });
    const records = new Map<string, RequestRecord[]>();
    for (const client of clients) {
      const list: RequestRecord[] = [];
      for (const id of ids.get(client) ?? []) {
        const record = await fixture.engine.get(client, id);
        expect(record?.status).toBe('succeeded');
        list.push(record as RequestRecord);
      }
      records.set(client, list);
    }
    expect(checkOrder(records)).toEqual({ orderViolations: [], overlapViolations: [] });
  });
});
