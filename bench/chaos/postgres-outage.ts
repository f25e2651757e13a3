/**
 * Chaos scenario c: the workers reach PostgreSQL through a TCP proxy this scenario controls (as
 * tests/queue/archive-outage.test.ts does); the proxy is cut for `outageMs` while requests keep
 * arriving. Processing must go on (Redis alone runs the queue) and the archive must be complete,
 * one row per request, once PostgreSQL is reachable again.
 */
import { createEngine } from '../../src/queue/index.js';
import { loadConfig } from '../../src/config.js';
import { TcpProxy } from '../../tests/helpers/tcp-proxy.js';
import {
  archiveBacklog,
  archivedCount,
  archiveRows,
  failuresOf,
  figuresOf,
  isolate,
  now,
  readAttemptLogs,
  sleep,
  spawnLaneq,
  subscribedWorkers,
  unfinished,
  verify,
  waitFor,
  waitForDrain,
  type Entry,
  type Log,
  type Proc,
  type Verdict,
} from './harness.js';

export interface PostgresOutageOptions {
  entry: Entry;
  clients: number;
  workers: number;
  /** one request per client every `roundMs` */
  roundMs: number;
  beforeMs: number;
  outageMs: number;
  afterMs: number;
  /** the Redis to run on (default: the shared one at 127.0.0.1:6379) */
  redisUrl?: string;
  log?: Log;
}

export interface PostgresOutageReport {
  scenario: 'postgres-outage';
  outageS: number;
  enqueued: number;
  /** requests that reached a final state while PostgreSQL was unreachable */
  finishedDuringOutage: number;
  /** rows written to the archive while PostgreSQL was unreachable (must be 0) */
  archivedDuringOutage: number;
  /** archive stream entries (each 1 to 32 final records) waiting in Redis when PostgreSQL came back */
  backlogEntriesAtReconnect: number;
  /** from the reconnection until the archive had every request */
  catchUpS: number;
  workerExits: number;
  verdict: Verdict;
  figures: Record<string, unknown>;
  failures: string[];
}

export async function runPostgresOutage(options: PostgresOutageOptions): Promise<PostgresOutageReport> {
  const log = options.log ?? (() => undefined);
  const iso = await isolate('chaos_pg', {
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}), env: { WORKER_CONCURRENCY: '16', LEASE_MS: '10000', HEARTBEAT_MS: '2000', ARCHIVE_BATCH: '500' } });
  const target = new URL(iso.databaseUrl);
  const proxy = await TcpProxy.open(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(iso.databaseUrl);
  viaProxy.port = String(proxy.port);
  const workers: Proc[] = [];
  try {
    for (let n = 0; n < options.workers; n += 1) {
      workers.push(spawnLaneq(options.entry, `worker-${n}`, { ...iso.env, ROLE: 'worker', DATABASE_URL: viaProxy.toString() }));
    }
    await waitFor(async () => (await subscribedWorkers(iso)) >= options.workers, 'the workers to subscribe', 60_000, 100);

    const engine = createEngine(loadConfig({ ...iso.env }), iso.redis);
    const ids: string[][] = Array.from({ length: options.clients }, () => []);
    let producing = true;
    let enqueued = 0;
    let round = 0;
    const producer = (async () => {
      while (producing) {
        const entries = ids.map((_, c) => ({
          clientId: `pg-${iso.tag}-${c}`,
          request: { type: 'chaos', payload: { c, n: round, ms: 2 }, maxAttempts: 10, timeoutMs: 30_000 },
        }));
        const accepted = await engine.enqueueMany(entries);
        accepted.forEach((entry, c) => ids[c]?.push(entry.id));
        enqueued += accepted.length;
        round += 1;
        await sleep(options.roundMs);
      }
    })();
    const finished = async () => enqueued - (await unfinished(iso));

    await sleep(options.beforeMs);
    await waitFor(async () => (await archivedCount(iso.pool)) > 0, 'the first archived rows', 30_000, 100);
    await proxy.stop();
    const cutAt = now();
    const finishedAtCut = await finished();
    const archivedAtCut = await archivedCount(iso.pool);
    log(`  PostgreSQL cut off (${archivedAtCut} rows archived so far)`);
    await sleep(options.outageMs);
    const finishedAtEnd = await finished();
    const archivedAtEnd = await archivedCount(iso.pool);
    const backlogEntriesAtReconnect = await archiveBacklog(iso);
    await proxy.start();
    const reconnectedAt = now();
    log(`  PostgreSQL reachable again after ${((reconnectedAt - cutAt) / 1000).toFixed(1)} s; ${finishedAtEnd - finishedAtCut} requests finished meanwhile`);
    await sleep(options.afterMs);
    producing = false;
    await producer;
    await waitForDrain(iso, 'the archive to catch up', 180_000);
    await waitFor(async () => (await archivedCount(iso.pool)) >= enqueued, 'every row', 60_000, 100);
    const catchUpS = (now() - reconnectedAt) / 1000;
    const workerExits = workers.filter((worker) => !worker.alive).length;
    await Promise.all(workers.map((worker) => worker.stop(5_000)));

    const verdict = verify(ids, await archiveRows(iso.pool), readAttemptLogs(iso.logDir), new Map());
    const failures = failuresOf(verdict);
    if (finishedAtEnd - finishedAtCut === 0) failures.push('nothing was processed during the outage');
    if (archivedAtEnd !== archivedAtCut) failures.push(`${archivedAtEnd - archivedAtCut} rows archived while PostgreSQL was unreachable?`);
    if (workerExits > 0) failures.push(`${workerExits} worker processes exited`);
    return {
      scenario: 'postgres-outage',
      outageS: Number(((reconnectedAt - cutAt) / 1000).toFixed(1)),
      enqueued,
      finishedDuringOutage: finishedAtEnd - finishedAtCut,
      archivedDuringOutage: archivedAtEnd - archivedAtCut,
      backlogEntriesAtReconnect,
      catchUpS: Number(catchUpS.toFixed(1)),
      workerExits,
      verdict,
      figures: figuresOf(verdict),
      failures,
    };
  } finally {
    await proxy.start().catch(() => undefined);
    await Promise.all(workers.map((worker) => worker.kill()));
    await proxy.stop();
    await iso.cleanup();
  }
}
