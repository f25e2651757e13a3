/**
 * Promise 1 across real worker processes: 2 and then 4 `node src/main.ts` workers (ROLE=worker)
 * race over 200 clients × 50 requests each. From the archive alone: every request ran exactly
 * once, each client's requests started in enqueue order and never overlapped, and every process
 * took part.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/queue/records.js';
import { checkOrder, engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { archivedRows, clientId, req, rowAsRecord, spawnWorker, type WorkerChild } from '../helpers/queue.js';
import { WORKER_HANDLERS_MODULE } from '../helpers/worker-handlers.js';

const CLIENTS = 200;
const PER_CLIENT = 50;

let fixture: EngineFixture;
const children: WorkerChild[] = [];
beforeAll(async () => {
  fixture = await engineFixture({ LEASE_MS: '5000', HEARTBEAT_MS: '1000' });
});
afterAll(async () => {
  await Promise.all(children.map((child) => child.stop(5_000)));
  await fixture.cleanup();
});

async function countOf(clientPrefix: string): Promise<number> {
  const { rows } = await fixture.pool.query<{ count: string }>('SELECT count(*) FROM requests WHERE client_id LIKE $1', [
    `${clientPrefix}%`,
  ]);
  return Number(rows[0]?.count);
}

async function race(processes: number): Promise<void> {
  const label = clientId(`mp${processes}`);
  const clients = Array.from({ length: CLIENTS }, (_, n) => `${label}-${n}`);
  const workers = Array.from({ length: processes }, () =>
    spawnWorker(fixture.config, { WORKER_CONCURRENCY: '16', HANDLERS: WORKER_HANDLERS_MODULE }),
  );
  children.push(...workers);
  // Wait until every process listens for work (each subscribes once to the wake channel), so
  // that all of them race from the first request on.
  await eventually(async () => {
    for (const worker of workers) worker.assertRunning();
    const [, subscribers] = (await fixture.redis.pubsub('NUMSUB', fixture.engine.keys.wakeChannel)) as [string, number];
    return Number(subscribers) >= processes;
  }, 30_000);

  // One round of all clients per call, while the workers already claim.
  const ids = new Map<string, string[]>(clients.map((client) => [client, []]));
  for (let round = 0; round < PER_CLIENT; round += 1) {
    const accepted = await fixture.engine.enqueueMany(
      clients.map((client) => ({ clientId: client, request: req('whoami', { ms: round % 3 }) })),
    );
    accepted.forEach((entry, n) => ids.get(clients[n] as string)?.push(entry.id));
  }
  const all = [...ids.values()].flat();
  expect(new Set(all).size).toBe(CLIENTS * PER_CLIENT);

  await eventually(async () => {
    for (const worker of workers) worker.assertRunning();
    return (await countOf(label)) >= all.length;
  }, 50_000, 250).catch(async (error: Error) => {
    const printed = workers.map((worker, n) => `worker ${n} (exit ${worker.child.exitCode}):\n${worker.output()}`);
    throw new Error(`${error.message}: ${await countOf(label)} of ${all.length} archived\n${printed.join('\n')}`);
  });

  const rows = new Map((await archivedRows(fixture.pool, all)).map((row) => [row.id, row]));
  // Zero lost, zero extra.
  expect(rows.size).toBe(all.length);
  expect(await countOf(label)).toBe(all.length);
  const notOnce = [...rows.values()].filter((row) => row.status !== 'succeeded' || row.attempts !== 1);
  expect(notOnce.map((row) => `${row.id}: ${row.status} after ${row.attempts} attempts`)).toEqual([]);

  // Per client, in enqueue order: started in order, each after the previous one finished.
  const byClient = new Map<string, RequestRecord[]>();
  for (const [client, list] of ids) {
    byClient.set(
      client,
      list.map((id) => rowAsRecord(rows.get(id) as NonNullable<ReturnType<typeof rows.get>>)),
    );
  }
  const report = checkOrder(byClient);
  expect(report.orderViolations).toEqual([]);
  expect(report.overlapViolations).toEqual([]);

  // Every process ran a share of the work.
  const pids = new Set([...rows.values()].map((row) => (row.result as { pid: number }).pid));
  expect(pids).toEqual(new Set(workers.map((worker) => worker.child.pid)));

  const exits = await Promise.all(workers.map((worker) => worker.stop(10_000)));
  expect(exits.map((exit) => [exit.code, exit.signal])).toEqual(workers.map(() => [0, null]));
}

describe('worker processes racing over the same queues', () => {
  it(`keeps per-client order and one in flight with 2 processes (${CLIENTS} clients × ${PER_CLIENT})`, async () => {
    await race(2);
  }, 90_000);

  it(`keeps per-client order and one in flight with 4 processes (${CLIENTS} clients × ${PER_CLIENT})`, async () => {
    await race(4);
  }, 90_000);
});
