/**
 * Promise 9 under a PostgreSQL outage: the worker reaches PostgreSQL through a TCP proxy that the
 * test cuts mid-run. Requests keep being processed (Redis alone runs the queue) while the archive
 * lags; once PostgreSQL is reachable again the archive catches up to exactly all requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.js';
import { createLogger } from '../../src/observability/logger.js';
import { archivedRecords } from '../../src/queue/records.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import { HandlerRegistry } from '../../src/worker/handlers/registry.js';
import { startWorker, type WorkerProcess } from '../../src/worker/index.js';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { allIn, archivedCount, archivedRows, clientId, req } from '../helpers/queue.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let fixture: EngineFixture;
let proxy: TcpProxy;
let proxiedPool: Pool;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  fixture = await engineFixture({ SHUTDOWN_GRACE_MS: '500' });
  const target = new URL(fixture.config.DATABASE_URL);
  proxy = await TcpProxy.open(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(fixture.config.DATABASE_URL);
  viaProxy.port = String(proxy.port);
  proxiedPool = createPool(viaProxy.toString(), 4, () => undefined);
});
afterAll(async () => {
  await proxy?.start();
  await worker?.stop();
  await proxiedPool.end();
  await proxy.stop();
  await fixture.cleanup();
});

/** Ids of the final records waiting in the shards' archive streams. */
async function streamIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const shard of fixture.engine.keys.shards) {
    const entries = (await fixture.redis.xrange(shard.archive, '-', '+')) as [string, string[]][];
    for (const [, fields] of entries) {
      for (const json of archivedRecords(fields)) ids.add((JSON.parse(json) as { id: string }).id);
    }
  }
  return ids;
}

describe('archive during a PostgreSQL outage', () => {
  it('keeps processing while PostgreSQL is unreachable and archives exactly every request afterwards', async () => {
    worker = await startWorker({
      config: { ...fixture.config, WORKER_CONCURRENCY: 8 },
      logger: createLogger('silent'),
      pool: proxiedPool,
      registry: new HandlerRegistry(builtinHandlers([])),
    });

    const clients = Array.from({ length: 8 }, () => clientId('outage'));
    const ids = new Map<string, string[]>();
    for (const client of clients) {
      const accepted = await fixture.engine.enqueue(
        client,
        Array.from({ length: 40 }, () => req('sleep', { ms: 8 })),
      );
      ids.set(client, accepted.map((entry) => entry.id));
    }
    const all = [...ids.values()].flat();

    // The archive works through the proxy; cut it as soon as the first rows arrived.
    await eventually(async () => (await archivedCount(fixture.pool)) > 0);
    expect(proxy.accepted).toBeGreaterThan(0);
    await proxy.stop();
    const acceptedBefore = proxy.accepted;
    const atOutage = await archivedCount(fixture.pool);
    expect(atOutage).toBeLessThan(all.length);

    // Processing goes on: every request finishes in Redis ...
    for (const client of clients) {
      await eventually(() => allIn(fixture.engine, client, ids.get(client) ?? [], ['succeeded']), 30_000);
    }
    // ... while the archive lags: what PostgreSQL lacks waits in Redis, nothing is dropped.
    const archivedDuringOutage = new Set((await archivedRows(fixture.pool)).map((row) => row.id));
    expect(archivedDuringOutage.size).toBeLessThan(all.length);
    const waiting = await streamIds();
    expect(waiting.size).toBeGreaterThan(0);
    expect(all.filter((id) => !archivedDuringOutage.has(id) && !waiting.has(id))).toEqual([]);
    // The backlog counts stream entries, each carrying one or more records.
    expect(await worker.archiver.backlog()).toBeGreaterThan(0);
    // No row can arrive while the proxy is down.
    expect(await archivedCount(fixture.pool)).toBe(archivedDuringOutage.size);

    await proxy.start();
    await eventually(async () => (await archivedCount(fixture.pool)) === all.length, 30_000);
    expect(proxy.accepted).toBeGreaterThan(acceptedBefore);
    const rows = await archivedRows(fixture.pool);
    expect(rows.map((row) => row.id).sort()).toEqual([...all].sort());
    expect(rows.every((row) => row.status === 'succeeded' && row.attempts === 1)).toBe(true);
    await eventually(async () => (await worker?.archiver.backlog()) === 0);
  });
});
