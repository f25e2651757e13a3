/**
 * Chaos scenario a: C clients × J requests through W worker processes while a driver SIGKILLs a
 * random worker K times, starting a new one each time. Shared by `npm run chaos` and the CI test.
 */
import { createEngine } from '../../src/queue/index.js';
import type { NewRequest } from '../../src/queue/engine.js';
import { loadConfig } from '../../src/config.js';
import {
  archivedCount,
  leftoverArchiveEntries,
  archiveRows,
  figuresOf,
  failuresOf,
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
  type ArchiveRow,
  type Verdict,
} from './harness.js';
import type { QueueEngine } from '../../src/queue/engine.js';

/** The final records Redis still keeps, in the archive's row shape. */
async function finalRecordsInRedis(engine: QueueEngine, clientIds: string[], ids: string[][]): Promise<ArchiveRow[]> {
  const rows: ArchiveRow[] = [];
  const work = ids.flatMap((list, c) => list.map((id) => ({ client: clientIds[c] as string, id })));
  for (let start = 0; start < work.length; start += 500) {
    const records = await Promise.all(work.slice(start, start + 500).map(({ client, id }) => engine.get(client, id)));
    for (const record of records) {
      if (!record) continue;
      rows.push({
        id: record.id,
        client_id: record.clientId,
        status: record.status,
        attempts: record.attempts,
        history: record.history.map((entry) => ({ a: entry.attempt, s: entry.startedAt, f: entry.finishedAt, er: entry.error })),
        payload: record.payload,
        started_ms: record.startedAt ?? null,
        finished_ms: record.finishedAt ?? 0,
      });
    }
  }
  return rows;
}

export interface WorkerKillOptions {
  clients: number;
  perClient: number;
  workers: number;
  kills: number;
  entry: Entry;
  /** each request sleeps 0..maxMs ms (uniform), so that kills land in the middle of requests */
  maxMs?: number;
  concurrency?: number;
  leaseMs?: number;
  heartbeatMs?: number;
  timeoutMs?: number;
  /**
   * Judge from the archive (the default: also proves it complete) or from the final records
   * Redis keeps (RESULT_RETENTION_*): no wait for the archive, which takes over a killed
   * worker's unacknowledged stream entries only after 60 s.
   */
  judgeFrom?: 'archive' | 'redis';
  /** the Redis to run on (default: the shared one at 127.0.0.1:6379) */
  redisUrl?: string;
  log?: Log;
}

export interface WorkerKillReport {
  scenario: 'worker-kills';
  clients: number;
  perClient: number;
  workers: number;
  kills: number;
  leaseMs: number;
  /** where the final states were read: the PostgreSQL archive, or Redis (no wait for the archive) */
  judgedFrom: 'archive' | 'redis';
  /** from the start of the drain until every request finished (in Redis) */
  seconds: number;
  drainPerSec: number;
  /** from the start of the drain until the archive had every request */
  archiveCompleteSeconds: number | undefined;
  /** completions refused as stale (the old worker's answer after its lease was taken over) */
  staleCompletions: number;
  /**
   * Archive stream entries written to PostgreSQL and acknowledged but never deleted: an archiver
   * killed between its XACK and its XDEL leaves them in Redis for good (see docs/reliability.md).
   */
  leftoverArchiveEntries: number | undefined;
  verdict: Verdict;
  figures: Record<string, unknown>;
  failures: string[];
}

export async function runWorkerKills(options: WorkerKillOptions): Promise<WorkerKillReport> {
  const log = options.log ?? (() => undefined);
  const leaseMs = options.leaseMs ?? 2_000;
  const maxMs = options.maxMs ?? 4;
  const total = options.clients * options.perClient;
  const iso = await isolate('chaos_kill', {
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    env: {
      LEASE_MS: String(leaseMs),
      HEARTBEAT_MS: String(options.heartbeatMs ?? 400),
      WORKER_CONCURRENCY: String(options.concurrency ?? 32),
      RESULT_RETENTION_COUNT: String(Math.max(100, options.perClient)),
    },
  });
  const workers: Proc[] = [];
  const deaths = new Map<number, number>();
  const everyWorker: Proc[] = [];
  const startWorker = (slot: number) => {
    const worker = spawnLaneq(options.entry, `worker-${slot}`, { ...iso.env, ROLE: 'worker' });
    workers[slot] = worker;
    everyWorker.push(worker);
    return worker;
  };
  try {
    for (let slot = 0; slot < options.workers; slot += 1) startWorker(slot);
    await waitFor(
      async () => {
        for (const worker of workers) if (!worker.alive) throw new Error(`${worker.name} exited:\n${worker.output()}`);
        return (await subscribedWorkers(iso)) >= options.workers;
      },
      'the workers to subscribe',
      60_000,
      100,
    );

    // Enqueue straight into the engine, round-robin over the clients as many producers would.
    const engine = createEngine(loadConfig({ ...iso.env, JWT_SECRET: iso.jwtSecret }), iso.redis);
    const ids: string[][] = Array.from({ length: options.clients }, () => []);
    const clientIds = Array.from({ length: options.clients }, (_, c) => `chaos-${iso.tag}-${c}`);
    const started = now();
    let batch: { clientId: string; request: NewRequest }[] = [];
    let owners: number[] = [];
    const flush = async () => {
      const accepted = await engine.enqueueMany(batch);
      accepted.forEach((entry, n) => ids[owners[n] as number]?.push(entry.id));
      batch = [];
      owners = [];
    };
    for (let n = 0; n < options.perClient; n += 1) {
      for (let c = 0; c < options.clients; c += 1) {
        const ms = Math.floor(Math.random() * (maxMs + 1));
        batch.push({ clientId: clientIds[c] as string, request: { type: 'chaos', payload: { c, n, ms }, maxAttempts: 10, timeoutMs: 30_000 } });
        owners.push(c);
        if (batch.length === 5_000) await flush();
      }
    }
    if (batch.length > 0) await flush();
    log(`  enqueued ${total} requests of ${options.clients} clients in ${((now() - started) / 1000).toFixed(1)} s`);

    // Kill k of K happens once about k/(K+1) of the requests are done (jittered), and only when
    // every worker is up: the kills spread over the run, each in the middle of requests.
    let kills = 0;
    let done = 0;
    while (kills < options.kills) {
      const target = (total * (kills + 1 + (Math.random() - 0.5) * 0.6)) / (options.kills + 1);
      let left = await unfinished(iso);
      while (left > 0 && total - left < target) {
        await sleep(20);
        left = await unfinished(iso);
      }
      done = total - left;
      if (left === 0) break;
      const slot = Math.floor(Math.random() * options.workers);
      const victim = workers[slot] as Proc;
      const diedAt = await victim.kill();
      deaths.set(victim.pid, diedAt);
      kills += 1;
      // Redis drops the dead process's subscription as soon as its socket closes.
      await waitFor(async () => (await subscribedWorkers(iso)) < options.workers, 'Redis to notice the death', 5_000, 10).catch(() => undefined);
      startWorker(slot);
      // The next kill waits until the new process listens for work: killing a process still
      // booting would test nothing.
      await waitFor(async () => (await subscribedWorkers(iso)) >= options.workers, 'the new worker to subscribe', 60_000, 50);
      log(`  kill ${kills}/${options.kills}: ${victim.name} (pid ${victim.pid}) at ${done}/${total} done; restarted`);
    }
    if (kills < options.kills) log(`  the queue drained after ${kills} of ${options.kills} kills`);

    await waitFor(async () => (await unfinished(iso)) === 0, 'every request to finish', options.timeoutMs ?? 600_000, 100);
    const seconds = (now() - started) / 1000;
    let archiveSeconds: number | undefined;
    let leftover: number | undefined;
    let rows: ArchiveRow[];
    if (options.judgeFrom === 'redis') {
      rows = await finalRecordsInRedis(engine, clientIds, ids);
    } else {
      // A killed worker's archiver leaves the stream entries it had read unacknowledged; another
      // worker takes them over once they are 60 s old (ABANDONED_AFTER_MS in src/worker/archiver.ts).
      await waitForDrain(iso, 'the archive', 300_000, log);
      await waitFor(async () => (await archivedCount(iso.pool)) >= total, 'the archive', 60_000, 200);
      archiveSeconds = (now() - started) / 1000;
      rows = await archiveRows(iso.pool);
      leftover = await leftoverArchiveEntries(iso);
    }
    await Promise.all(workers.map((worker) => worker.stop(5_000)));

    const verdict = verify(ids, rows, readAttemptLogs(iso.logDir), deaths);
    const staleCompletions = everyWorker.reduce((sum, worker) => sum + (worker.messages.get('lease was lost; completion refused') ?? 0), 0);
    return {
      scenario: 'worker-kills',
      clients: options.clients,
      perClient: options.perClient,
      workers: options.workers,
      kills,
      leaseMs,
      judgedFrom: options.judgeFrom ?? 'archive',
      seconds: Number(seconds.toFixed(1)),
      drainPerSec: Math.round(total / seconds),
      archiveCompleteSeconds: archiveSeconds === undefined ? undefined : Number(archiveSeconds.toFixed(1)),
      staleCompletions,
      leftoverArchiveEntries: leftover,
      verdict,
      figures: figuresOf(verdict),
      failures: failuresOf(verdict),
    };
  } finally {
    await Promise.all(everyWorker.map((worker) => worker.kill()));
    await iso.cleanup();
  }
}
