/**
 * Engine benchmark: `npm run bench:engine -- --clients C --per-client J --workers W`.
 *
 * 1. Enqueues C × J no-op requests through the engine (QueueEngine.enqueueMany, in batches).
 * 2. Drains them with W worker processes (`node dist/main.js`, ROLE=worker, PostgreSQL archive on).
 * 3. Checks, from every request's archived start/finish times (Redis clock), per-client order and
 *    one-in-flight, and that nothing was lost.
 * Prints a table and, as its last line, one JSON object with the figures.
 *
 * Fair start: the workers take a moment to boot, so the ready rings are held back (renamed) until
 * every worker process is subscribed, then restored and announced at once; the drain time runs
 * from the first start to the last finish, both stamped by Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createPool, ensureDatabase } from '../src/db/pool.js';
import { createEngine } from '../src/queue/index.js';
import type { NewRequest } from '../src/queue/engine.js';
import { countUnfinished } from '../src/queue/snapshot.js';
import { cleanupBenchData } from './cleanup.js';
import { benchWorkerEnv } from './worker-env.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    'per-client': { type: 'string', default: '100' },
    workers: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '512' },
    shards: { type: 'string', default: '2' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    postgres: { type: 'string', default: 'postgres://root@127.0.0.1:5432' },
    /** write a V8 CPU profile of each worker process into this folder */
    'cpu-prof': { type: 'string' },
    /** NAME=VALUE set in the workers' environment, after the defaults above (repeatable), e.g. --env LOG_LIFECYCLE=all */
    env: { type: 'string', multiple: true, default: [] },
  },
});
const clients = Number(values.clients);
const perClient = Number(values['per-client']);
const workerCount = Number(values.workers);
const total = clients * perClient;
const tag = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const env = {
  ...benchWorkerEnv({
    tag,
    redisUrl: values.redis,
    postgresUrl: values.postgres,
    concurrency: values.concurrency,
    secret: randomBytes(32).toString('hex'),
    perClient,
  }),
  QUEUE_SHARDS: values.shards,
  ...Object.fromEntries(values.env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])),
};
const config = loadConfig(env);
const redis = new Redis(config.REDIS_URL);
const engine = createEngine(config, redis);

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** Clients are users, whose ids are UUIDs: the benchmark uses ids of the same length. */
function clientId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

async function enqueueAll(): Promise<{ ids: string[][]; seconds: number }> {
  const ids: string[][] = Array.from({ length: clients }, () => []);
  const request: NewRequest = { type: 'noop', payload: null, maxAttempts: 3, timeoutMs: 60_000 };
  const started = process.hrtime.bigint();
  // Round-robin over clients inside each batch, the way many producers would interleave.
  const batch = 10_000;
  let pending: { clientId: string; request: NewRequest }[] = [];
  let owners: number[] = [];
  const flush = async () => {
    const accepted = await engine.enqueueMany(pending);
    accepted.forEach((entry, n) => ids[owners[n] as number]?.push(entry.id));
    pending = [];
    owners = [];
  };
  for (let round = 0; round < perClient; round += 1) {
    for (let client = 0; client < clients; client += 1) {
      pending.push({ clientId: clientId(client), request });
      owners.push(client);
      if (pending.length === batch) await flush();
    }
  }
  if (pending.length > 0) await flush();
  return { ids, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * The flags of `npm start` (package.json): a 4 MB young generation keeps a busy worker's resident
 * memory near 130 MB instead of 170+ MB, at no measurable cost in throughput.
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'];

function spawnWorker(): ChildProcess {
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  // The same command as `npm run start:worker`.
  const child = spawn(process.execPath, [...profile, ...WORKER_NODE_FLAGS, 'dist/main.js'], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') log(`worker ${child.pid} exited with ${code ?? signal}`);
  });
  return child;
}

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function redisCpuSeconds(): Promise<number> {
  const info = await redis.info('cpu');
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return read('used_cpu_user') + read('used_cpu_sys');
}

function peakRssMb(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function unfinished(): Promise<number> {
  return countUnfinished(redis, engine.keys);
}

async function archiveBacklog(): Promise<number> {
  const lengths = await Promise.all(engine.keys.shards.map((shard) => redis.xlen(shard.archive)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

async function workerConnections(): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((line) => / name=laneq-worker/.test(line)).length;
}

interface Row {
  id: string;
  started: number;
  finished: number;
}

async function main(): Promise<void> {
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, 2, () => undefined);
  await migrate(pool);

  const memoryBefore = await usedMemory();
  log(`enqueueing ${clients} clients × ${perClient} requests = ${total}`);
  const { ids, seconds: enqueueSeconds } = await enqueueAll();
  const memoryAfter = await usedMemory();

  // Hold the ready rings back while the workers boot.
  await Promise.all(engine.keys.shards.map((shard) => redis.rename(shard.keys[0] as string, `${shard.keys[0]}:held`).catch(() => 0)));
  const workers = Array.from({ length: workerCount }, spawnWorker);
  await waitFor(async () => {
    const [, count] = (await redis.pubsub('NUMSUB', engine.keys.wakeChannel)) as [string, number];
    return count >= workerCount;
  }, 'workers to subscribe');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await Promise.all(
    engine.keys.shards.map(async (shard) => {
      const ready = shard.keys[0] as string;
      if ((await redis.exists(`${ready}:held`)) === 1) await redis.rename(`${ready}:held`, ready);
      await redis.publish(engine.keys.wakeChannel, ready);
    }),
  );
  log(`draining with ${workerCount} worker process(es)`);
  const redisCpuBefore = await redisCpuSeconds();
  const workerCpuBefore = workers.map((worker) => cpuSeconds(worker.pid));
  let connections = 0;
  await waitFor(async () => {
    connections = Math.max(connections, await workerConnections());
    return (await unfinished()) === 0;
  }, 'the drain');
  const rss = workers.map((worker) => peakRssMb(worker.pid));
  const workerCpu = workers.reduce((sum, worker, n) => sum + cpuSeconds(worker.pid) - (workerCpuBefore[n] ?? 0), 0);
  const redisCpu = (await redisCpuSeconds()) - redisCpuBefore;
  log(`drain CPU: workers ${workerCpu.toFixed(2)} s, Redis ${redisCpu.toFixed(2)} s (includes the archive catching up)`);
  await waitFor(async () => (await archiveBacklog()) === 0, 'the archive');
  for (const worker of workers) worker.kill('SIGTERM');
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));

  const rows = await readTimes(pool);
  const report = checkRows(ids, rows);
  const result = {
    clients,
    perClient,
    workers: workerCount,
    enqueuePerSec: Math.round(total / enqueueSeconds),
    drainPerSec: Math.round(total / (report.drainMs / 1000)),
    orderViolations: report.orderViolations,
    overlapViolations: report.overlapViolations,
    lost: report.lost,
    firstStartMaxFraction: Number(report.firstStartMaxFraction.toFixed(4)),
    redisBytesPerQueued: Math.round((memoryAfter - memoryBefore) / total),
    workerRssMb: Math.round(Math.max(...rss)),
    redisConnections: connections,
  };
  console.log(
    [
      '| clients | per client | workers | enqueue/s | drain/s | order viol. | overlap viol. | lost | first start max | bytes/queued | worker RSS MB | Redis conns |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      `| ${clients} | ${perClient} | ${workerCount} | ${result.enqueuePerSec} | ${result.drainPerSec} | ${result.orderViolations} | ${result.overlapViolations} | ${result.lost} | ${(result.firstStartMaxFraction * 100).toFixed(2)}% | ${result.redisBytesPerQueued} | ${result.workerRssMb} | ${result.redisConnections} |`,
    ].join('\n'),
  );
  console.log(JSON.stringify(result));

  await pool.end();
  await cleanup();
}

/** Start/finish times of every request, from the PostgreSQL archive (Redis-clock stamps). */
async function readTimes(pool: pg.Pool): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  const result = await pool.query<{ id: string; started: string; finished: string }>(
    `SELECT id, round(extract(epoch from started_at) * 1000) AS started,
            round(extract(epoch from finished_at) * 1000) AS finished FROM requests`,
  );
  for (const row of result.rows) rows.set(row.id, { id: row.id, started: Number(row.started), finished: Number(row.finished) });
  return rows;
}

function checkRows(ids: string[][], rows: Map<string, Row>) {
  let orderViolations = 0;
  let overlapViolations = 0;
  let lost = 0;
  let firstStart = Number.POSITIVE_INFINITY;
  let lastFinish = 0;
  const firstStarts: number[] = [];
  for (const list of ids) {
    let previous: Row | undefined;
    list.forEach((id, n) => {
      const row = rows.get(id);
      if (!row) {
        lost += 1;
        return;
      }
      if (n === 0) firstStarts.push(row.started);
      firstStart = Math.min(firstStart, row.started);
      lastFinish = Math.max(lastFinish, row.finished);
      if (previous) {
        if (row.started < previous.started) orderViolations += 1;
        if (row.started < previous.finished) overlapViolations += 1;
      }
      previous = row;
    });
  }
  const drainMs = Math.max(1, lastFinish - firstStart);
  const firstStartMaxFraction = Math.max(0, ...firstStarts.map((start) => (start - firstStart) / drainMs));
  return { orderViolations, overlapViolations, lost, drainMs, firstStartMaxFraction };
}

async function cleanup(): Promise<void> {
  redis.disconnect();
  await cleanupBenchData(config.REDIS_URL, values.postgres, config.KEY_PREFIX, tag);
}

await main();
