/**
 * Chaos scenario b: Redis (a redis-server this scenario starts on a spare port, AOF on) is
 * SIGKILLed while users enqueue over HTTP, and restarted on the same port and folder. Measures
 * what an acknowledged (202) enqueue can lose, what the API answers meanwhile, and whether the API
 * and the workers come back by themselves.
 */
import {
  archiveRows,
  failuresOf,
  figuresOf,
  freePort,
  isolate,
  now,
  readAttemptLogs,
  RedisServer,
  signInUsers,
  sleep,
  spawnLaneq,
  subscribedWorkers,
  verify,
  waitFor,
  waitForDrain,
  waitUntilLive,
  type Entry,
  type Log,
  type Proc,
  type Verdict,
} from './harness.js';
import { isCatalogueError, Producers } from './producers.js';

export interface RedisRestartOptions {
  appendfsync: 'always' | 'everysec';
  entry: Entry;
  users: number;
  workers: number;
  /** load before the kill, Redis down, load after the restart */
  beforeMs: number;
  downMs: number;
  afterMs: number;
  log?: Log;
}

export interface RedisRestartReport {
  scenario: 'redis-restart';
  appendfsync: string;
  users: number;
  workers: number;
  calls: number;
  acknowledged: number;
  lostAcknowledged: number;
  /** requests in the archive whose enqueue was never acknowledged (answer lost with the crash) */
  inWithoutAck: number;
  /** the same (user, n) enqueued twice */
  duplicateEnqueues: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  /** every refusal while Redis was down had the catalogue's 503 shape */
  /**
   * Answers from the kill to the end of the outage: 503s, and 202s of calls whose reply was on its
   * way when Redis died (`acknowledgedAfterDeath`: answered more than 100 ms after the death was
   * seen, must be 0).
   */
  downAnswers: { total: number; serviceUnavailable503: number; catalogueShape: boolean; other: Record<string, number>; acknowledgedAfterDeath: number };
  readyWhileDown: number | undefined;
  readyAfter: number | undefined;
  /** from the restart (the new redis-server spawned, before it loaded its AOF) to the first acknowledged enqueue */
  recoveryMs: number | undefined;
  /** from the restart to every worker subscribed again */
  workersBackMs: number | undefined;
  drainedAfterRestartS: number;
  apiRestarts: number;
  workerExits: number;
  verdict: Verdict;
  figures: Record<string, unknown>;
  failures: string[];
}

export async function runRedisRestart(options: RedisRestartOptions): Promise<RedisRestartReport> {
  const log = options.log ?? (() => undefined);
  const redis = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', options.appendfsync]);
  const iso = await isolate('chaos_redis', { redisUrl: redis.url, env: { LEASE_MS: '10000', HEARTBEAT_MS: '2000', WORKER_CONCURRENCY: '16' } });
  const processes: Proc[] = [];
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const api = spawnLaneq(options.entry, 'api', { ...iso.env, ROLE: 'api', PORT: String(port) });
    processes.push(api);
    for (let n = 0; n < options.workers; n += 1) processes.push(spawnLaneq(options.entry, `worker-${n}`, { ...iso.env, ROLE: 'worker' }));
    await waitUntilLive(base, api);
    await waitFor(async () => (await subscribedWorkers(iso)) >= options.workers, 'the workers to subscribe', 60_000, 100);
    const users = await signInUsers(base, options.users, 'chaos_redis');

    const producers = new Producers({ base: () => base, users, batchSize: 1, ms: 1, backoffMs: 100 });
    await sleep(options.beforeMs);

    const before = { ...producers.stats.statuses };
    const killedAt = await redis.kill();
    log(`  redis-server SIGKILLed after ${producers.stats.ackTimes.length} acknowledged enqueues`);
    await sleep(Math.min(1_000, options.downMs / 2));
    const readyWhileDown = await fetch(`${base}/health/ready`).then((response) => response.status).catch(() => undefined);
    await sleep(options.downMs - Math.min(1_000, options.downMs / 2));
    const during: Record<string, number> = {};
    for (const [status, count] of Object.entries(producers.stats.statuses)) during[status] = count - (before[status] ?? 0);
    const sample503 = producers.stats.samples['503'];

    // From here on Redis may answer: the new process loads the AOF and serves as soon as it can.
    const restartedAt = now();
    await redis.restart();
    log(`  redis-server restarted after ${((restartedAt - killedAt) / 1000).toFixed(1)} s down`);
    let workersBackMs: number | undefined;
    const workersBack = waitFor(async () => (await subscribedWorkers(iso).catch(() => 0)) >= options.workers, 'the workers to resubscribe', 60_000, 50).then(
      () => (workersBackMs = now() - restartedAt),
    );
    await sleep(options.afterMs);
    const stats = await producers.stop();
    await workersBack;
    const readyAfter = await fetch(`${base}/health/ready`).then((response) => response.status).catch(() => undefined);
    await waitForDrain(iso, 'the drain after the restart', 180_000);
    const drainedAfterRestartS = (now() - restartedAt) / 1000;

    const rows = await archiveRows(iso.pool);
    const verdict = verify(stats.ids, rows, readAttemptLogs(iso.logDir), new Map());
    const markers = new Map<string, number>();
    for (const row of rows) {
      const payload = row.payload as { c: number; n: number };
      const key = `${payload.c}:${payload.n}`;
      markers.set(key, (markers.get(key) ?? 0) + 1);
    }
    const duplicateEnqueues = [...markers.values()].filter((count) => count > 1).length;
    const recoveryAck = stats.ackTimes.filter((at) => at > restartedAt).sort((a, b) => a - b)[0];
    const downTotal = Object.values(during).reduce((sum, count) => sum + count, 0);
    const other = Object.fromEntries(Object.entries(during).filter(([status]) => status !== '503'));
    const report: RedisRestartReport = {
      scenario: 'redis-restart',
      appendfsync: options.appendfsync,
      users: options.users,
      workers: options.workers,
      calls: stats.calls,
      acknowledged: verdict.accepted,
      lostAcknowledged: verdict.lost,
      inWithoutAck: verdict.extra,
      duplicateEnqueues,
      statuses: stats.statuses,
      codes: stats.codes,
      downAnswers: {
        total: downTotal,
        serviceUnavailable503: during['503'] ?? 0,
        catalogueShape: sample503 === undefined ? false : isCatalogueError(sample503, 'service_unavailable'),
        other,
        acknowledgedAfterDeath: stats.ackTimes.filter((at) => at > killedAt + 100 && at < restartedAt).length,
      },
      readyWhileDown,
      readyAfter,
      recoveryMs: recoveryAck === undefined ? undefined : Math.round(recoveryAck - restartedAt),
      workersBackMs: workersBackMs === undefined ? undefined : Math.round(workersBackMs),
      drainedAfterRestartS: Number(drainedAfterRestartS.toFixed(1)),
      apiRestarts: 0,
      workerExits: processes.filter((proc) => !proc.alive).length,
      verdict,
      figures: figuresOf(verdict),
      failures: [],
    };
    report.failures = failuresOf(verdict, { allowExtra: true });
    if (duplicateEnqueues > 0) report.failures.push(`${duplicateEnqueues} requests enqueued twice`);
    if (readyWhileDown !== 503) report.failures.push(`/health/ready answered ${readyWhileDown} while Redis was down`);
    if ((during['503'] ?? 0) === 0) report.failures.push('no 503 while Redis was down');
    if (!report.downAnswers.catalogueShape) report.failures.push(`503 body not in the catalogue shape: ${JSON.stringify(sample503)}`);
    if (Object.keys(other).some((status) => status !== '202')) report.failures.push(`other answers while Redis was down: ${JSON.stringify(other)}`);
    if (report.downAnswers.acknowledgedAfterDeath > 0) report.failures.push(`${report.downAnswers.acknowledgedAfterDeath} enqueues acknowledged while Redis was down`);
    if (recoveryAck === undefined) report.failures.push('no enqueue acknowledged after the restart');
    if (report.workerExits > 0) report.failures.push(`${report.workerExits} laneq processes exited`);
    await Promise.all(processes.map((proc) => proc.stop(5_000)));
    return report;
  } finally {
    await Promise.all(processes.map((proc) => proc.kill()));
    await iso.cleanup();
    await redis.stop();
  }
}
