/**
 * Promises 1 and 2: strict FIFO per client with at most one request of a client in flight (here
 * across two in-process workers; multiprocess.test.ts does it across processes), and fair
 * round-robin across clients: a client with a big backlog delays a client with one request by
 * about one round at most, whatever the worker's concurrency.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { checkOrder, engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { StartLog, allIn, clientId, clientsInShard, handler, records, req } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture();
});
afterEach(async () => {
  // Each test starts its own workers; none may keep claiming into the next test.
  await Promise.all(fixture.workers.map((worker) => worker.stop()));
});
afterAll(async () => {
  await fixture.cleanup();
});

/** A handler that records its start and how many requests of the same client ran at once. */
function probe(log: StartLog, worker: string, inFlight: Map<string, number>, maxInFlight: Map<string, number>) {
  return handler(async (payload, context) => {
    log.record(worker, payload, context);
    const now = (inFlight.get(context.clientId) ?? 0) + 1;
    inFlight.set(context.clientId, now);
    maxInFlight.set(context.clientId, Math.max(now, maxInFlight.get(context.clientId) ?? 0));
    try {
      await sleep(Math.floor(Math.random() * 4), undefined, { signal: context.signal });
      return { seen: context.requestId };
    } finally {
      inFlight.set(context.clientId, (inFlight.get(context.clientId) ?? 1) - 1);
    }
  });
}

describe('per-client FIFO, one in flight', () => {
  it('runs every client’s requests in enqueue order, one at a time, across two workers', async () => {
    const log = new StartLog();
    const inFlight = new Map<string, number>();
    const maxInFlight = new Map<string, number>();
    await fixture.startWorker({ probe: probe(log, 'w1', inFlight, maxInFlight) }, {}, { WORKER_CONCURRENCY: 8 });
    await fixture.startWorker({ probe: probe(log, 'w2', inFlight, maxInFlight) }, {}, { WORKER_CONCURRENCY: 8 });

    const clients = Array.from({ length: 30 }, () => clientId('fifo'));
    const perClient = 15;
    // Enqueued in rounds over all clients (one script call per shard) while both workers run, so
    // every client's queue is built by several calls: the order must hold across them.
    const ids = new Map<string, string[]>(clients.map((client) => [client, []]));
    for (let round = 0; round < perClient; round += 1) {
      const accepted = await fixture.engine.enqueueMany(
        clients.map((client) => ({ clientId: client, request: req('probe', { round }) })),
      );
      accepted.forEach((entry, n) => {
        expect(entry.status).toBe('queued');
        ids.get(clients[n] as string)?.push(entry.id);
      });
    }

    await eventually(async () => {
      for (const client of clients) {
        if (!(await allIn(fixture.engine, client, ids.get(client) ?? [], ['succeeded']))) return false;
      }
      return true;
    });

    // Both workers took part, every request ran exactly once, in its client's order.
    expect(new Set(log.events.map((event) => event.worker))).toEqual(new Set(['w1', 'w2']));
    expect(log.events).toHaveLength(clients.length * perClient);
    const byClient = new Map<string, RequestRecord[]>();
    for (const client of clients) {
      expect(log.ofClient(client).map((event) => event.id)).toEqual(ids.get(client));
      expect(log.ofClient(client).every((event) => event.attempt === 1)).toBe(true);
      expect(maxInFlight.get(client)).toBe(1);
      const list = await records(fixture.engine, client, ids.get(client) ?? []);
      expect(list.map((record) => record.attempts)).toEqual(list.map(() => 1));
      byClient.set(client, list);
    }
    // The same from the engine's own (Redis clock) start and finish times.
    expect(checkOrder(byClient)).toEqual({ orderViolations: [], overlapViolations: [] });
  });

  it('keeps one client’s order across enqueue calls larger than one script chunk', async () => {
    const client = clientId('chunked');
    const accepted = await fixture.engine.enqueue(
      client,
      Array.from({ length: 2_500 }, (_, n) => req('probe', { n })),
    );
    expect(accepted.map((entry) => entry.position)).toEqual(accepted.map((_, n) => n));
    expect(new Set(accepted.map((entry) => entry.id)).size).toBe(2_500);
    const log = new StartLog();
    const record = handler((payload, context) => {
      log.record('w', payload, context);
      return null;
    });
    await fixture.startWorker({ probe: record }, {}, { WORKER_CONCURRENCY: 4 });
    await eventually(() => log.events.length === 2_500, 30_000);
    expect(log.events.map((event) => event.payload)).toEqual(accepted.map((_, n) => ({ n })));
    await eventually(async () => (await fixture.engine.get(client, accepted[2_499]?.id ?? ''))?.status === 'succeeded');
  });
});

describe('fair round-robin across clients', () => {
  // Turns of one request (WORKER_TURN_LENGTH 1) unless a test says otherwise: each start is a
  // client's whole turn, which is what the bounds below count.
  /**
   * Enqueues `backlog` requests for one client and then one request each for `small` clients,
   * runs a worker with `concurrency`, and returns the start order (client per start) until every
   * request has started.
   */
  async function startOrder(bigClient: string, backlog: number, small: string[], concurrency: number, turnLength = 1): Promise<string[]> {
    await fixture.engine.enqueue(
      bigClient,
      Array.from({ length: backlog }, () => req('noop')),
    );
    for (const client of small) await fixture.engine.enqueue(client, [req('noop')]);
    const order: string[] = [];
    await fixture.startWorker({}, { onStarted: (request) => order.push(request.clientId) }, {
      WORKER_CONCURRENCY: concurrency,
      WORKER_TURN_LENGTH: turnLength,
    });
    await eventually(() => order.length === backlog + small.length, 60_000);
    return order;
  }

  it('starts 50 one-request clients within about one round, ahead of a 2,000-request backlog (concurrency 4)', async () => {
    // The big client lives in shard 0, the first shard a fresh worker claims from.
    const [big] = clientsInShard(fixture.engine, 0, 'big');
    // Spread evenly over the shards, as in the next test: the shares of slots are per shard.
    const small = [...clientsInShard(fixture.engine, 0, 'small', 25), ...clientsInShard(fixture.engine, 1, 'small', 25)];
    const order = await startOrder(big as string, 2_000, small, 4);

    const firstStart = small.map((client) => order.indexOf(client));
    // One round is 51 starts (every client once); allow a little for the shard spread.
    expect(Math.max(...firstStart)).toBeLessThan(60);
    const bigBeforeLastSmall = order.slice(0, Math.max(...firstStart)).filter((client) => client === big).length;
    expect(bigBeforeLastSmall).toBeLessThanOrEqual(8);
    expect(order.filter((client) => client === big)).toHaveLength(2_000);
  });

  it('does not let a backlog hold the only slot of a worker with concurrency 1', async () => {
    const [big] = clientsInShard(fixture.engine, 0, 'big1');
    // The worker's one slot alternates between the shards with work, and each shard serves its
    // own clients round-robin: so the small clients are spread evenly over the two shards. With
    // random ids, 9 or 10 of them landing in the shard without the backlog (about one run in a
    // hundred; seen once in CI) put the last one at the 17th start or later, the backlog alone
    // in its shard taking every other turn.
    const small = [...clientsInShard(fixture.engine, 0, 'small1', 5), ...clientsInShard(fixture.engine, 1, 'small1', 5)];
    const order = await startOrder(big as string, 300, small, 1);

    const firstStart = small.map((client) => order.indexOf(client));
    // One round is 11 starts; the backlog must not run ahead of the one-request clients.
    expect(Math.max(...firstStart)).toBeLessThan(16);
    expect(order.slice(0, Math.max(...firstStart)).filter((client) => client === big).length).toBeLessThanOrEqual(2);
  });

});
