/**
 * Peer benchmark: `npm run bench:peers -- [--quick] [--systems a,b] [--scenarios a,b]
 * [--workers 1,2] [--timeout-s 120] [--big 1000000]`.
 *
 * The same workload on laneq and its peers: C clients × J no-op jobs, each client's jobs strictly
 * in order and one at a time, drained by W worker processes. Every system runs the same job
 * (recorder.mjs: yields once, records its start and finish in the worker process; the records go
 * to the driver at the end), so order and overlap are checked from what ran, not assumed.
 *
 * Systems (each on a fresh key prefix / database, removed afterwards):
 *   laneq              engine enqueue (QueueEngine.enqueueMany, batches of 10,000), W laneq worker
 *                      processes (startServer with ROLE=worker, as `npm run start:worker`)
 *   laneq-http         the same workers; the enqueue phase through the API (ROLE=api process),
 *                      batches of up to 1,000 per client per call, 32 calls in flight
 *   bullmq-per-client  one BullMQ queue per client with setGlobalConcurrency(1), one Worker per
 *                      queue in every worker process
 *   groupmq            GroupMQ, a group per client, one Worker (concurrency N) per process
 *   graphile           Graphile Worker, a queue_name per client, run() with concurrency N
 *   bullmq-unordered   one BullMQ queue, one Worker (concurrency N) per process: no ordering at
 *                      all, the reference
 *
 * Scenarios: drains `10x10000`, `1000x100`, `100000x1` (for each --workers count); `fair` (one
 * client with --big queued jobs, then 100 clients with one each: when does each small one
 * start); `lat500`, `lat5000` (enqueue→start latency at a fixed offered rate over 100 clients,
 * one worker process); `http` (authenticated laneq single-request enqueue against a bare
 * Fastify + jose JWT-verify endpoint, and batch enqueue, with autocannon).
 *
 * Output: tables on standard output, results as JSON in bench/peers/results/<date>.json and the
 * drain chart bench/peers/results/drain.svg (chart.ts, also runnable on its own).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import type * as TokensModule from '../../src/auth/tokens.js';
import type * as ConfigModule from '../../src/config.js';
import type { NewRequest } from '../../src/queue/engine.js';
import type * as QueueModule from '../../src/queue/index.js';
import { cleanupBenchData } from '../cleanup.js';
import { benchWorkerEnv } from '../worker-env.js';
import { renderDrainSvg, type DrainPoint } from './chart.js';
import { peerVersions, producers, type JobData, type Producer } from './producers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

// laneq as built (dist/, what the worker and API processes run), typed by its sources: the
// driver's enqueue must match the workers' scripts and record format even while src/ changes.
const fromDist = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(root, 'dist', path)).href)) as T;
const { loadConfig } = await fromDist<typeof ConfigModule>('config.js');
const { createEngine } = await fromDist<typeof QueueModule>('queue/index.js');
const { AccessTokens } = await fromDist<typeof TokensModule>('auth/tokens.js');

const ALL_SYSTEMS = ['laneq', 'laneq-http', 'bullmq-per-client', 'groupmq', 'graphile', 'bullmq-unordered'] as const;
type SystemName = (typeof ALL_SYSTEMS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    systems: { type: 'string' },
    scenarios: { type: 'string' },
    workers: { type: 'string' },
    'timeout-s': { type: 'string' },
    /** the fairness run enqueues --big jobs for one client first: peers with slow enqueue need longer */
    'fair-timeout-s': { type: 'string' },
    big: { type: 'string' },
    'fair-small': { type: 'string' },
    /** jobs one worker process runs at once: laneq (WORKER_CONCURRENCY, its default), GroupMQ, BullMQ unordered */
    concurrency: { type: 'string', default: '512' },
    'latency-s': { type: 'string' },
    'http-seconds': { type: 'string' },
    'http-connections': { type: 'string', default: '50' },
    'bullmq-max-queues': { type: 'string', default: '2000' },
    /** Graphile Worker slows down sharply when its concurrency exceeds its pool (10 connections) */
    'graphile-concurrency': { type: 'string', default: '8' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    postgres: { type: 'string', default: 'postgres://root@127.0.0.1:5432' },
    out: { type: 'string' },
  },
});

const quick = values.quick === true;
const DRAINS: Record<string, [number, number]> = quick
  ? { '10x500': [10, 500], '100x50': [100, 50], '1000x1': [1_000, 1] }
  : { '10x10000': [10, 10_000], '1000x100': [1_000, 100], '100000x1': [100_000, 1] };
const OTHER_SCENARIOS = ['fair', 'lat500', 'lat5000', 'http'];
const systems = (values.systems?.split(',') ?? [...ALL_SYSTEMS]).map((name) => name.trim()) as SystemName[];
for (const name of systems) if (!ALL_SYSTEMS.includes(name)) throw new Error(`unknown system ${name} (one of ${ALL_SYSTEMS.join(', ')})`);
const scenarios = values.scenarios?.split(',').map((name) => name.trim()) ?? [...Object.keys(DRAINS), ...OTHER_SCENARIOS];
for (const name of scenarios) {
  if (!(name in DRAINS) && !OTHER_SCENARIOS.includes(name)) {
    throw new Error(`unknown scenario ${name} (one of ${[...Object.keys(DRAINS), ...OTHER_SCENARIOS].join(', ')})`);
  }
}
const workerCounts = (values.workers ?? (quick ? '1' : '1,2')).split(',').map(Number);
const timeoutMs = Number(values['timeout-s'] ?? (quick ? 60 : 120)) * 1000;
const bigJobs = Number(values.big ?? (quick ? 5_000 : 1_000_000));
const fairTimeoutMs = Number(values['fair-timeout-s'] ?? (quick ? 60 : 300)) * 1000;
const concurrency = Number(values.concurrency);
const latencySeconds = Number(values['latency-s'] ?? (quick ? 2 : 10));
const httpSeconds = Number(values['http-seconds'] ?? (quick ? 2 : 10));
const httpConnections = Number(values['http-connections']);
const bullmqMaxQueues = Number(values['bullmq-max-queues']);
const graphileConcurrency = Number(values['graphile-concurrency']);
/** small clients of the fairness run; with --concurrency above it, one claim round takes them all */
// More small clients than one worker's slots (512), so that a claim round cannot take them all at once
// and the fairness run still tells round-robin from sticky scheduling.
const FAIR_SMALL_CLIENTS = Number(values['fair-small'] ?? 1_000);
const LATENCY_CLIENTS = 100;
const ENQUEUE_BATCH = 10_000;
const NODE_FLAGS = ['--max-semi-space-size=4'];

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** laneq clients are users, whose ids are UUIDs. */
function clientUuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function redisUsedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
}

/** Bytes of every key under a prefix (MEMORY USAGE), immune to other tenants of the Redis server. */
async function redisKeyBytes(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let bytes = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
      for (const [, value] of (await pipeline.exec()) ?? []) bytes += Number(value ?? 0);
    }
  } while (cursor !== '0');
  return bytes;
}

async function redisDeleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

/** Established TCP connections from these processes to a local port (Redis 6379, PostgreSQL 5432). */
function connectionsTo(pids: number[], port: number): number {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      if (fields[2]?.endsWith(`:${portHex}`) && fields[3] === '01') inodes.add(fields[9] as string);
    }
  }
  let count = 0;
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1] as string)) count += 1;
      } catch {
        // closed meanwhile
      }
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Worker processes

interface WorkerProc {
  child: ChildProcess;
  ready: boolean;
  done: number;
  marked: number;
  exited: string | undefined;
  dumped?: (value: { count: number; rssMb: number }) => void;
}

class WorkerSet {
  readonly procs: WorkerProc[];

  constructor(spawnOne: () => ChildProcess, count: number) {
    this.procs = Array.from({ length: count }, () => {
      const proc: WorkerProc = { child: spawnOne(), ready: false, done: 0, marked: 0, exited: undefined };
      proc.child.on('message', (message: { type: string; done?: number; marked?: number; count?: number; rssMb?: number }) => {
        if (message.type === 'ready') proc.ready = true;
        else if (message.type === 'progress') {
          proc.done = message.done ?? 0;
          proc.marked = message.marked ?? 0;
        } else if (message.type === 'dumped') proc.dumped?.({ count: message.count ?? 0, rssMb: message.rssMb ?? 0 });
      });
      proc.child.on('exit', (code, signal) => (proc.exited = `exited with ${code ?? signal}`));
      return proc;
    });
  }

  get pids(): number[] {
    return this.procs.map((proc) => proc.child.pid ?? 0);
  }

  get done(): number {
    return this.procs.reduce((sum, proc) => sum + proc.done, 0);
  }

  get marked(): number {
    return this.procs.reduce((sum, proc) => sum + proc.marked, 0);
  }

  /** Throws when a worker process died. */
  check(): void {
    const dead = this.procs.find((proc) => proc.exited);
    if (dead) throw new Error(`worker process ${dead.child.pid} ${dead.exited}`);
  }

  async waitReady(deadline: number): Promise<void> {
    while (!this.procs.every((proc) => proc.ready)) {
      this.check();
      if (now() > deadline) throw new Error('timed out waiting for the worker processes to start');
      await sleep(20);
    }
  }

  go(): void {
    for (const proc of this.procs) proc.child.send({ type: 'go' });
  }

  /** Each process's records (Float64 × 5 per job) and peak RSS. */
  async dump(dir: string): Promise<{ records: Float64Array[]; rssMb: number[] }> {
    const records: Float64Array[] = [];
    const rssMb: number[] = [];
    for (const [n, proc] of this.procs.entries()) {
      if (proc.exited) continue;
      const file = join(dir, `worker-${n}.bin`);
      const answer = await Promise.race([
        new Promise<{ count: number; rssMb: number }>((resolve) => {
          proc.dumped = resolve;
          proc.child.send({ type: 'dump', file });
        }),
        sleep(60_000).then(() => undefined),
      ]);
      if (!answer) throw new Error(`worker process ${proc.child.pid} did not answer the dump`);
      const bytes = readFileSync(file);
      records.push(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8));
      rssMb.push(answer.rssMb);
      rmSync(file);
    }
    return { records, rssMb };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(async (proc) => {
        if (proc.exited) return;
        const exited = new Promise((resolve) => proc.child.once('exit', resolve));
        proc.child.kill('SIGTERM');
        if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
          proc.child.kill('SIGKILL');
          await exited;
        }
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Systems

interface SystemRun {
  producer: Producer;
  spawnWorker(gateOpen: boolean): ChildProcess;
  /** bytes the queued jobs take: Redis used_memory, or PostgreSQL database size for Graphile */
  memory(): Promise<{ used: number; keys: number }>;
  /** port the worker processes' connections go to */
  storePort: number;
  cleanup(): Promise<void>;
}

function spawnNode(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [...NODE_FLAGS, script], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function laneqEnv(tag: string, secret: string, perClient: number): NodeJS.ProcessEnv {
  return {
    ...benchWorkerEnv({ tag, redisUrl: values.redis, postgresUrl: values.postgres, concurrency: String(concurrency), secret, perClient }),
    HANDLERS: join(here, 'laneq-handlers.mjs'),
    MAX_QUEUE_DEPTH: '100000000',
    RATE_LIMIT_ENQUEUE_PER_S: '1000000',
    RATE_LIMIT_AUTH_PER_IP: '1000000',
  };
}

function benchRequest(entry: JobData): NewRequest {
  return { type: 'bench.noop', payload: entry, maxAttempts: 3, timeoutMs: 60_000 };
}

async function waitUntilLive(base: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`the API process exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/health/live`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('the API did not come up');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next] as T;
        next += 1;
        await task(item);
      }
    }),
  );
}

async function laneqSystem(tag: string, perClient: number, overHttp: boolean): Promise<SystemRun> {
  const secret = randomBytes(32).toString('hex');
  const env = laneqEnv(tag, secret, perClient);
  const config = loadConfig(env);
  const redis = new Redis(values.redis);
  const pattern = `${config.KEY_PREFIX}:*`;
  let api: ChildProcess | undefined;
  let producer: Producer;
  if (!overHttp) {
    const engine = createEngine(config, redis);
    producer = {
      async prepare() {},
      async enqueueBatch(entries) {
        await engine.enqueueMany(entries.map((entry) => ({ clientId: clientUuid(entry.c), request: benchRequest(entry) })));
      },
      async enqueueOne(entry) {
        await engine.enqueue(clientUuid(entry.c), [benchRequest(entry)]);
      },
      async close() {},
    };
  } else {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, [...NODE_FLAGS, 'dist/main.js'], {
      cwd: root,
      env: { ...env, ROLE: 'api', PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitUntilLive(base, api);
    // One token per client, signed with the deployment's secret by its own signer: registering
    // 100,000 users (argon2) is not what this measures. The API checks the token as for any user.
    const signer = new AccessTokens(secret, config.JWT_ISSUER, 86_400);
    const tokens = new Map<number, string>();
    const tokenOf = async (c: number) => {
      let token = tokens.get(c);
      if (!token) {
        token = await signer.sign({ userId: clientUuid(c), sessionFamilyId: clientUuid(1_000_000_000 + c), role: 'user' });
        tokens.set(c, token);
      }
      return token;
    };
    const post = async (c: number, body: unknown) => {
      const response = await fetch(`${base}/api/queue/enqueue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(c)}` },
        body: JSON.stringify(body),
      });
      if (response.status !== 202) throw new Error(`enqueue answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    };
    producer = {
      async prepare() {},
      async enqueueBatch(entries) {
        const groups = new Map<number, JobData[]>();
        for (const entry of entries) {
          const list = groups.get(entry.c);
          if (list) list.push(entry);
          else groups.set(entry.c, [entry]);
        }
        // A client's calls one after another (its order), 32 calls in flight over all clients.
        await pool([...groups], 32, async ([c, list]) => {
          for (let start = 0; start < list.length; start += 1_000) {
            await post(c, { requests: list.slice(start, start + 1_000).map((payload) => ({ type: 'bench.noop', payload })) });
          }
        });
      },
      async enqueueOne(entry) {
        await post(entry.c, { type: 'bench.noop', payload: entry });
      },
      async close() {},
    };
  }
  return {
    producer,
    spawnWorker: (gateOpen) =>
      spawnNode(join(here, 'laneq-worker.mjs'), { ...env, BENCH_GATE_OPEN: gateOpen ? '1' : '0' }),
    memory: async () => ({ used: await redisUsedMemory(redis), keys: await redisKeyBytes(redis, pattern) }),
    storePort: 6379,
    async cleanup() {
      if (api) await stopChild(api);
      redis.disconnect();
      await cleanupBenchData(values.redis, values.postgres, config.KEY_PREFIX, tag);
    },
  };
}

async function peerSystem(name: SystemName, tag: string, clients: number): Promise<SystemRun> {
  const prefix = tag.replace(/_/g, '-');
  const databaseUrl = `${values.postgres}/${tag}`;
  const redis = new Redis(values.redis);
  const graphile = name === 'graphile';
  let admin: pg.Client | undefined;
  if (graphile) {
    admin = new pg.Client({ connectionString: `${values.postgres}/postgres` });
    admin.on('error', (error) => log(`  PostgreSQL: ${error.message}`));
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(tag)}`);
  }
  const pattern = name === 'groupmq' ? `groupmq:${prefix}:*` : `${prefix}:*`;
  const factory = producers[name];
  if (!factory) throw new Error(`no producer for ${name}`);
  const producer = await factory({ redisUrl: values.redis, prefix, databaseUrl });
  return {
    producer,
    spawnWorker: (gateOpen) =>
      spawnNode(join(here, 'peer-worker.mjs'), {
        ...process.env,
        BENCH_GATE_OPEN: gateOpen ? '1' : '0',
        PEER_SYSTEM: name,
        PEER_CONFIG: JSON.stringify({
          redisUrl: values.redis,
          prefix,
          clients,
          concurrency: graphile ? graphileConcurrency : concurrency,
          databaseUrl,
          poolSize: graphileConcurrency + 2,
        }),
      }),
    memory: async () => {
      if (graphile && admin) {
        const size = Number((await admin.query('SELECT pg_database_size($1) AS size', [tag])).rows[0].size);
        return { used: size, keys: size };
      }
      return { used: await redisUsedMemory(redis), keys: await redisKeyBytes(redis, pattern) };
    },
    storePort: graphile ? 5432 : 6379,
    async cleanup() {
      await producer.close().catch((error: unknown) => log(`  close: ${String(error)}`));
      redis.disconnect();
      if (admin) {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(tag)} WITH (FORCE)`);
        await admin.end();
      } else {
        await redisDeleteKeys(values.redis, pattern);
      }
    },
  };
}

async function openSystem(name: SystemName, tag: string, clients: number, perClient: number): Promise<SystemRun> {
  if (name === 'laneq' || name === 'laneq-http') return laneqSystem(tag, perClient, name === 'laneq-http');
  return peerSystem(name, tag, clients);
}

// ---------------------------------------------------------------------------------------------
// Analysis

interface Analysis {
  completed: number;
  duplicates: number;
  orderViolations: number;
  overlapViolations: number;
  drainStart: number;
  drainMs: number;
  firstStartFractionP50: number;
  firstStartFractionMax: number;
  /** per client: the start of its first job */
  firstStarts: Map<number, number>;
  latencies: number[];
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

function analyze(chunks: Float64Array[]): Analysis {
  let total = 0;
  for (const chunk of chunks) total += chunk.length / 5;
  const c = new Float64Array(total);
  const i = new Float64Array(total);
  const t = new Float64Array(total);
  const start = new Float64Array(total);
  const end = new Float64Array(total);
  let n = 0;
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += 5) {
      c[n] = chunk[at] as number;
      i[n] = chunk[at + 1] as number;
      t[n] = chunk[at + 2] as number;
      start[n] = chunk[at + 3] as number;
      end[n] = chunk[at + 4] as number;
      n += 1;
    }
  }
  const order = Array.from({ length: total }, (_, k) => k);
  order.sort((a, b) => (c[a] as number) - (c[b] as number) || (i[a] as number) - (i[b] as number) || (start[a] as number) - (start[b] as number));
  let duplicates = 0;
  let orderViolations = 0;
  let overlapViolations = 0;
  let drainStart = Number.POSITIVE_INFINITY;
  let drainEnd = 0;
  const firstStarts = new Map<number, number>();
  const latencies: number[] = [];
  let previous = -1;
  for (const k of order) {
    drainStart = Math.min(drainStart, start[k] as number);
    drainEnd = Math.max(drainEnd, end[k] as number);
    const client = c[k] as number;
    const first = firstStarts.get(client);
    if (first === undefined || (start[k] as number) < first) firstStarts.set(client, start[k] as number);
    if (previous >= 0 && c[previous] === client) {
      if (i[previous] === i[k]) {
        duplicates += 1; // a redelivery: the first run counts
        continue;
      }
      if ((start[k] as number) < (start[previous] as number)) orderViolations += 1;
      if ((start[k] as number) < (end[previous] as number)) overlapViolations += 1;
    }
    if ((t[k] as number) >= 0) latencies.push((start[k] as number) - (t[k] as number));
    previous = k;
  }
  const drainMs = Math.max(0.001, drainEnd - drainStart);
  const fractions = [...firstStarts.values()].map((first) => (first - drainStart) / drainMs).sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  return {
    completed: total - duplicates,
    duplicates,
    orderViolations,
    overlapViolations,
    drainStart,
    drainMs,
    firstStartFractionP50: quantile(fractions, 0.5),
    firstStartFractionMax: fractions.at(-1) ?? Number.NaN,
    firstStarts,
    latencies,
  };
}

// ---------------------------------------------------------------------------------------------
// Runs

interface RunResult {
  kind: 'drain' | 'fair' | 'latency';
  system: SystemName;
  scenario: string;
  clients: number;
  perClient: number;
  workers: number;
  status: 'ok' | 'timeout' | 'skipped' | 'failed';
  reason?: string;
  enqueued?: number;
  expected?: number;
  completed?: number;
  enqueuePerSec?: number;
  drainPerSec?: number;
  orderViolations?: number;
  overlapViolations?: number;
  duplicates?: number;
  lost?: number;
  firstStartFractionP50?: number;
  firstStartFractionMax?: number;
  bytesPerQueued?: number;
  keyBytesPerQueued?: number;
  connections?: number;
  workerRssMb?: number;
  // fairness
  smallStartP50Ms?: number;
  smallStartMaxMs?: number;
  bigJobsBeforeLastSmall?: number;
  // latency
  offeredPerSec?: number;
  achievedPerSec?: number;
  latencyP50Ms?: number;
  latencyP99Ms?: number;
  latencyMaxMs?: number;
}

function skipReason(system: SystemName, clients: number, workers: number): string | undefined {
  if (system === 'bullmq-per-client' && clients > bullmqMaxQueues) {
    return `needs one BullMQ Worker, each with its own blocking Redis connection, per client per worker process: ${(clients * workers).toLocaleString('en')} connections (Redis maxclients is 10,000 and the server is shared); capped at --bullmq-max-queues ${bullmqMaxQueues}`;
  }
  return undefined;
}

function newTag(): string {
  return `pq_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

function startWorkers(run: SystemRun, count: number, gateOpen: boolean): WorkerSet {
  return new WorkerSet(() => run.spawnWorker(gateOpen), count);
}

async function drainRun(
  system: SystemName,
  scenario: string,
  kind: 'drain' | 'fair',
  clients: number,
  perClient: number,
  workers: number,
): Promise<RunResult> {
  const result: RunResult = { kind, system, scenario, clients, perClient, workers, status: 'ok' };
  const reason = skipReason(system, clients, workers);
  if (reason) return { ...result, status: 'skipped', reason };
  const tag = newTag();
  const deadline = now() + (kind === 'fair' ? fairTimeoutMs : timeoutMs);
  const total = kind === 'fair' ? bigJobs + FAIR_SMALL_CLIENTS : clients * perClient;
  const clientCount = kind === 'fair' ? FAIR_SMALL_CLIENTS + 1 : clients;
  let run: SystemRun | undefined;
  let set: WorkerSet | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'laneq-peers-'));
  try {
    run = await openSystem(system, tag, clientCount, perClient);
    await run.producer.prepare(clientCount);
    const before = kind === 'drain' ? await run.memory() : undefined;
    // Enqueue: clients interleaved round-robin in batches (fairness: the big client first).
    const started = now();
    let enqueued = 0;
    let batch: JobData[] = [];
    const flush = async () => {
      if (now() > deadline) throw new Timeout(`enqueue not finished within the time bound (${enqueued.toLocaleString('en')} of ${total.toLocaleString('en')} enqueued)`);
      await run?.producer.enqueueBatch(batch);
      enqueued += batch.length;
      batch = [];
    };
    if (kind === 'fair') {
      for (let i = 0; i < bigJobs; i += 1) {
        batch.push({ c: 0, i });
        if (batch.length === ENQUEUE_BATCH) await flush();
      }
      for (let c = 1; c <= FAIR_SMALL_CLIENTS; c += 1) batch.push({ c, i: 0, m: 1 });
    } else {
      for (let i = 0; i < perClient; i += 1) {
        for (let c = 0; c < clients; c += 1) {
          batch.push({ c, i });
          if (batch.length === ENQUEUE_BATCH) await flush();
        }
      }
    }
    if (batch.length > 0) await flush();
    const enqueueSeconds = (now() - started) / 1000;
    result.enqueued = enqueued;
    result.enqueuePerSec = Math.round(enqueued / enqueueSeconds);
    if (before) {
      const after = await run.memory();
      result.bytesPerQueued = Math.round((after.used - before.used) / total);
      result.keyBytesPerQueued = Math.round((after.keys - before.keys) / total);
    }
    log(`  enqueued ${enqueued.toLocaleString('en')} in ${enqueueSeconds.toFixed(1)} s; starting ${workers} worker process(es)`);

    set = startWorkers(run, workers, false);
    await set.waitReady(deadline);
    await sleep(300);
    set.go();
    let connections = 0;
    const target = kind === 'fair' ? FAIR_SMALL_CLIENTS : total;
    const progress = () => (kind === 'fair' ? set?.marked ?? 0 : set?.done ?? 0);
    let lastSample = 0;
    while (progress() < target) {
      set.check();
      if (now() > deadline) {
        result.status = 'timeout';
        result.reason = `drain not finished within the time bound (${set.done.toLocaleString('en')} of ${total.toLocaleString('en')} done${kind === 'fair' ? `, ${set.marked} of ${FAIR_SMALL_CLIENTS} small clients started` : ''})`;
        break;
      }
      if (now() - lastSample > 500) {
        connections = Math.max(connections, connectionsTo(set.pids, run.storePort));
        lastSample = now();
      }
      await sleep(20);
    }
    await sleep(250); // the last progress report
    connections = Math.max(connections, connectionsTo(set.pids, run.storePort));
    const { records, rssMb } = await set.dump(dir);
    const report = analyze(records);
    result.expected = kind === 'fair' ? undefined : total;
    result.completed = report.completed;
    result.duplicates = report.duplicates;
    result.orderViolations = report.orderViolations;
    result.overlapViolations = report.overlapViolations;
    result.connections = connections;
    result.workerRssMb = Math.round(Math.max(...rssMb));
    if (kind === 'drain') {
      result.lost = result.status === 'ok' ? total - report.completed : undefined;
      result.drainPerSec = Math.round(report.completed / (report.drainMs / 1000));
      result.firstStartFractionP50 = round4(report.firstStartFractionP50);
      result.firstStartFractionMax = round4(report.firstStartFractionMax);
    } else {
      const small = [...report.firstStarts].filter(([c]) => c >= 1).map(([, first]) => first - report.drainStart).sort((a, b) => a - b);
      const lastSmall = report.drainStart + (small.at(-1) ?? 0);
      result.smallStartP50Ms = round1(quantile(small, 0.5));
      result.smallStartMaxMs = round1(small.at(-1) ?? Number.NaN);
      let bigBefore = 0;
      for (const chunk of records) for (let at = 0; at < chunk.length; at += 5) if (chunk[at] === 0 && (chunk[at + 3] as number) < lastSmall) bigBefore += 1;
      result.bigJobsBeforeLastSmall = bigBefore;
      result.drainPerSec = Math.round(report.completed / (report.drainMs / 1000));
    }
  } catch (error) {
    if (error instanceof Timeout) {
      result.status = 'timeout';
      result.reason = error.message;
    } else {
      result.status = 'failed';
      result.reason = error instanceof Error ? error.message : String(error);
    }
  } finally {
    await set?.stop();
    await run?.cleanup().catch((error: unknown) => log(`  cleanup failed: ${String(error)}`));
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

class Timeout extends Error {}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

async function latencyRun(system: SystemName, rate: number): Promise<RunResult> {
  const result: RunResult = {
    kind: 'latency',
    system,
    scenario: `lat${rate}`,
    clients: LATENCY_CLIENTS,
    perClient: Math.round((rate * latencySeconds) / LATENCY_CLIENTS),
    workers: 1,
    status: 'ok',
    offeredPerSec: rate,
  };
  const tag = newTag();
  const deadline = now() + timeoutMs;
  let run: SystemRun | undefined;
  let set: WorkerSet | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'laneq-peers-'));
  const chains = new Map<number, Promise<void>>();
  try {
    run = await openSystem(system, tag, LATENCY_CLIENTS, result.perClient);
    await run.producer.prepare(LATENCY_CLIENTS);
    set = startWorkers(run, 1, true);
    await set.waitReady(deadline);
    // Warm-up, not measured: one job per client (connections, caches, JIT), then the offered load.
    const producer = run.producer;
    await Promise.all(Array.from({ length: LATENCY_CLIENTS }, (_, c) => producer.enqueueOne({ c, i: 0 })));
    while (set.done < LATENCY_CLIENTS) {
      set.check();
      if (now() > deadline) throw new Timeout('the warm-up jobs did not finish within the time bound');
      await sleep(20);
    }
    await sleep(500);
    // Offered load: every 5 ms, whatever is due by now; each client's enqueues one after another.
    const total = rate * latencySeconds;
    let sent = 0;
    let failures = 0;
    const begun = now();
    while (sent < total) {
      const due = Math.min(total, Math.floor(((now() - begun) / 1000) * rate));
      for (; sent < due; sent += 1) {
        const c = sent % LATENCY_CLIENTS;
        const i = 1 + Math.floor(sent / LATENCY_CLIENTS);
        const chain = (chains.get(c) ?? Promise.resolve()).then(() =>
          producer.enqueueOne({ c, i, t: now() }).catch(() => {
            failures += 1;
          }),
        );
        chains.set(c, chain);
      }
      if (now() > deadline) throw new Timeout('enqueue not finished within the time bound');
      await sleep(5);
    }
    await Promise.all(chains.values());
    const seconds = (now() - begun) / 1000;
    result.achievedPerSec = Math.round(total / seconds);
    const notes: string[] = [];
    if (result.achievedPerSec < rate * 0.9) {
      notes.push(`offered rate not reached: the enqueue calls (each client's one after another) managed ${result.achievedPerSec}/s`);
    }
    if (failures > 0) notes.push(`${failures} enqueue calls failed`);
    if (notes.length > 0) result.reason = notes.join('; ');
    while (set.done < LATENCY_CLIENTS + total - failures) {
      set.check();
      if (now() > deadline) {
        result.status = 'timeout';
        result.reason = `not all jobs started within the time bound (${set.done} of ${total})`;
        break;
      }
      await sleep(20);
    }
    await sleep(250);
    const { records, rssMb } = await set.dump(dir);
    const report = analyze(records);
    result.completed = report.completed - LATENCY_CLIENTS;
    result.orderViolations = report.orderViolations;
    result.overlapViolations = report.overlapViolations;
    result.duplicates = report.duplicates;
    result.workerRssMb = Math.round(Math.max(...rssMb));
    result.latencyP50Ms = round1(quantile(report.latencies, 0.5));
    result.latencyP99Ms = round1(quantile(report.latencies, 0.99));
    result.latencyMaxMs = round1(report.latencies.at(-1) ?? Number.NaN);
  } catch (error) {
    result.status = error instanceof Timeout ? 'timeout' : 'failed';
    result.reason = error instanceof Error ? error.message : String(error);
  } finally {
    // enqueue calls still in flight (after a time-out) end before the system is taken down
    await Promise.race([Promise.all(chains.values()), sleep(30_000)]);
    await set?.stop();
    await run?.cleanup().catch((error: unknown) => log(`  cleanup failed: ${String(error)}`));
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// HTTP: authenticated laneq enqueue against a bare Fastify + jose endpoint

interface HttpResult {
  connections: number;
  seconds: number;
  laneqSinglePerSec: number;
  laneqSingleP99Ms: number;
  laneqSingleErrors: number;
  bareSinglePerSec: number;
  bareSingleP99Ms: number;
  bareSingleErrors: number;
  singleRatio: number;
  batchSize: number;
  laneqBatchRequestsPerSec: number;
  laneqBatchP99Ms: number;
  laneqBatchErrors: number;
}

async function cannon(url: string, tokens: string[], body: string): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: httpConnections,
    duration: httpSeconds,
    requests: [
      {
        method: 'POST',
        setupRequest: (request, context: { token?: string }) => {
          context.token ??= tokens[Math.floor(Math.random() * tokens.length)];
          return { ...request, headers: { 'content-type': 'application/json', authorization: `Bearer ${context.token}` }, body };
        },
      },
    ],
  });
}

async function httpRun(): Promise<HttpResult | { status: 'failed'; reason: string }> {
  const tag = newTag();
  const secret = randomBytes(32).toString('hex');
  const env = laneqEnv(tag, secret, 1);
  const config = loadConfig(env);
  const port = await freePort();
  const barePort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = spawn(process.execPath, [...NODE_FLAGS, 'dist/main.js'], {
    cwd: root,
    env: { ...env, ROLE: 'api', PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const bare = spawn(process.execPath, [...NODE_FLAGS, join(here, 'bare-fastify.mjs')], {
    cwd: root,
    env: { ...process.env, PORT: String(barePort), JWT_SECRET: secret },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    await waitUntilLive(base, api);
    // Real users, registered and signed in through the API, one per connection.
    const tokens = await Promise.all(
      Array.from({ length: httpConnections }, async (_, n) => {
        const username = `peers_${n}_${randomBytes(3).toString('hex')}`;
        const post = (path: string) =>
          fetch(`${base}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username, password: 'benchmark password' }),
          });
        await post('/api/auth/register');
        return String(((await (await post('/api/auth/login')).json()) as { accessToken: string }).accessToken);
      }),
    );
    await new Promise<void>((resolve) => bare.once('message', () => resolve()));
    const single = JSON.stringify({ type: 'noop' });
    const batchSize = 100;
    const batchBody = JSON.stringify({ requests: Array.from({ length: batchSize }, () => ({ type: 'noop' })) });
    log('  autocannon: laneq single');
    const laneqSingle = await cannon(`${base}/api/queue/enqueue`, tokens, single);
    log('  autocannon: bare Fastify + jose');
    const bareSingle = await cannon(`http://127.0.0.1:${barePort}/api/queue/enqueue`, tokens, single);
    log(`  autocannon: laneq batch of ${batchSize}`);
    const laneqBatch = await cannon(`${base}/api/queue/enqueue`, tokens, batchBody);
    void config;
    return {
      connections: httpConnections,
      seconds: httpSeconds,
      laneqSinglePerSec: Math.round(laneqSingle.requests.average),
      laneqSingleP99Ms: laneqSingle.latency.p99,
      laneqSingleErrors: laneqSingle.errors + laneqSingle.non2xx,
      bareSinglePerSec: Math.round(bareSingle.requests.average),
      bareSingleP99Ms: bareSingle.latency.p99,
      bareSingleErrors: bareSingle.errors + bareSingle.non2xx,
      singleRatio: round4(laneqSingle.requests.average / bareSingle.requests.average),
      batchSize,
      laneqBatchRequestsPerSec: Math.round(laneqBatch.requests.average * batchSize),
      laneqBatchP99Ms: laneqBatch.latency.p99,
      laneqBatchErrors: laneqBatch.errors + laneqBatch.non2xx,
    };
  } catch (error) {
    return { status: 'failed', reason: error instanceof Error ? error.message : String(error) };
  } finally {
    await stopChild(api);
    await stopChild(bare);
    await cleanupBenchData(values.redis, values.postgres, config.KEY_PREFIX, tag);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  return value.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function pct(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? '–' : (value * 100).toFixed(1);
}

function statusCell(row: RunResult): string {
  return row.reason ? `${row.status}: ${row.reason}` : row.status;
}

function drainTable(rows: RunResult[]): string {
  const lines = [
    '| clients × per client | workers | system | enqueue/s | drain/s | order viol. | overlap viol. | lost | dup. | first start p50 / max (% of drain) | Redis B/queued (used_memory / keys) | conns | worker RSS MB | status |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const memory = row.system === 'graphile' ? `${fmt(row.bytesPerQueued)} (PG db size)` : `${fmt(row.bytesPerQueued)} / ${fmt(row.keyBytesPerQueued)}`;
    lines.push(
      `| ${fmt(row.clients)} × ${fmt(row.perClient)} | ${row.workers} | ${row.system} | ${fmt(row.enqueuePerSec)} | ${fmt(row.drainPerSec)} | ${fmt(row.orderViolations)} | ${fmt(row.overlapViolations)} | ${fmt(row.lost)} | ${fmt(row.duplicates)} | ${pct(row.firstStartFractionP50)} / ${pct(row.firstStartFractionMax)} | ${row.status === 'skipped' ? '–' : memory} | ${fmt(row.connections)} | ${fmt(row.workerRssMb)} | ${statusCell(row)} |`,
    );
  }
  return lines.join('\n');
}

function fairTable(rows: RunResult[]): string {
  const lines = [
    `| system | workers | big client's queued jobs | small clients' first start p50 ms | max ms | big-client jobs run before the last small one started | enqueue/s | order viol. | overlap viol. | status |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.system} | ${row.workers} | ${fmt(bigJobs)} | ${fmt(row.smallStartP50Ms, 1)} | ${fmt(row.smallStartMaxMs, 1)} | ${fmt(row.bigJobsBeforeLastSmall)} | ${fmt(row.enqueuePerSec)} | ${fmt(row.orderViolations)} | ${fmt(row.overlapViolations)} | ${statusCell(row)} |`,
    );
  }
  return lines.join('\n');
}

function latencyTable(rows: RunResult[]): string {
  const lines = [
    '| system | offered /s | achieved /s | enqueue→start p50 ms | p99 ms | max ms | order viol. | overlap viol. | status |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.system} | ${fmt(row.offeredPerSec)} | ${fmt(row.achievedPerSec)} | ${fmt(row.latencyP50Ms, 1)} | ${fmt(row.latencyP99Ms, 1)} | ${fmt(row.latencyMaxMs, 1)} | ${fmt(row.orderViolations)} | ${fmt(row.overlapViolations)} | ${statusCell(row)} |`,
    );
  }
  return lines.join('\n');
}

function httpTable(result: HttpResult | { status: 'failed'; reason: string }): string {
  if ('status' in result) return `HTTP comparison failed: ${result.reason}`;
  return [
    '| endpoint | calls/s | requests enqueued/s | p99 ms | errors |',
    '|---|---|---|---|---|',
    `| bare Fastify + jose JWT verify (no queue) | ${fmt(result.bareSinglePerSec)} | – | ${result.bareSingleP99Ms} | ${result.bareSingleErrors} |`,
    `| laneq single enqueue (authenticated) | ${fmt(result.laneqSinglePerSec)} | ${fmt(result.laneqSinglePerSec)} | ${result.laneqSingleP99Ms} | ${result.laneqSingleErrors} |`,
    `| laneq batch of ${result.batchSize} | ${fmt(result.laneqBatchRequestsPerSec / result.batchSize)} | ${fmt(result.laneqBatchRequestsPerSec)} | ${result.laneqBatchP99Ms} | ${result.laneqBatchErrors} |`,
    '',
    `laneq single / bare: ${(result.singleRatio * 100).toFixed(0)}% (${result.connections} connections, ${result.seconds} s each)`,
  ].join('\n');
}

function machine(): Record<string, string> {
  const run = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return { nproc: run('nproc', []), uname: run('uname', ['-srm']), node: process.version };
}

async function versions(): Promise<Record<string, string>> {
  const redis = new Redis(values.redis);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  redis.disconnect();
  const client = new pg.Client({ connectionString: `${values.postgres}/postgres` });
  await client.connect();
  const postgres = String((await client.query('SHOW server_version')).rows[0].server_version);
  await client.end();
  const laneq = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return { laneq: `${laneq.version} (${commit}, working tree)`, ...peerVersions(), redis: redisVersion, postgresql: postgres };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const drains: RunResult[] = [];
  const fair: RunResult[] = [];
  const latency: RunResult[] = [];
  let http: HttpResult | { status: 'failed'; reason: string } | undefined;
  const info = { machine: machine(), versions: await versions() };
  log(`peer benchmark: systems ${systems.join(', ')}; scenarios ${scenarios.join(', ')}; workers ${workerCounts.join(', ')}; time bound ${timeoutMs / 1000} s`);

  for (const scenario of scenarios.filter((name) => name in DRAINS)) {
    const [clients, perClient] = DRAINS[scenario] as [number, number];
    for (const workers of workerCounts) {
      for (const system of systems) {
        log(`${scenario}, ${workers} worker(s), ${system}`);
        const row = await drainRun(system, scenario, 'drain', clients, perClient, workers);
        log(`  → ${row.status}${row.reason ? ` (${row.reason})` : ''}: drain ${fmt(row.drainPerSec)}/s, enqueue ${fmt(row.enqueuePerSec)}/s`);
        drains.push(row);
      }
    }
  }
  if (scenarios.includes('fair')) {
    for (const system of systems) {
      log(`fairness (1 × ${bigJobs.toLocaleString('en')} + ${FAIR_SMALL_CLIENTS} × 1), ${system}`);
      const row = await drainRun(system, 'fair', 'fair', FAIR_SMALL_CLIENTS + 1, 1, workerCounts[0] ?? 1);
      log(`  → ${row.status}${row.reason ? ` (${row.reason})` : ''}: small clients start p50 ${fmt(row.smallStartP50Ms, 1)} ms, max ${fmt(row.smallStartMaxMs, 1)} ms`);
      fair.push(row);
    }
  }
  for (const rate of [500, 5_000]) {
    if (!scenarios.includes(`lat${rate}`)) continue;
    for (const system of systems) {
      log(`latency at ${rate}/s over ${LATENCY_CLIENTS} clients, ${system}`);
      const row = await latencyRun(system, rate);
      log(`  → ${row.status}${row.reason ? ` (${row.reason})` : ''}: p50 ${fmt(row.latencyP50Ms, 1)} ms, p99 ${fmt(row.latencyP99Ms, 1)} ms`);
      latency.push(row);
    }
  }
  if (scenarios.includes('http')) {
    log('HTTP: laneq enqueue vs bare Fastify + jose');
    http = await httpRun();
  }

  const date = startedAt.toISOString().slice(0, 10);
  const command = `npm run bench:peers -- ${process.argv.slice(2).join(' ')}`.trim();
  const results = {
    date: startedAt.toISOString(),
    command,
    ...info,
    options: { quick, systems, scenarios, workers: workerCounts, timeoutS: timeoutMs / 1000, big: bigJobs, fairSmall: FAIR_SMALL_CLIENTS, fairTimeoutS: fairTimeoutMs / 1000, concurrency, graphileConcurrency, latencySeconds, httpSeconds, httpConnections, bullmqMaxQueues },
    drains,
    fair,
    latency,
    http,
  };
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  const jsonFile = values.out ?? join(outDir, `${date}${quick ? '-quick' : ''}.json`);
  writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  const points: DrainPoint[] = drains.map((row) => ({
    system: row.system,
    workers: row.workers,
    clients: row.clients,
    drainPerSec: row.status === 'ok' ? row.drainPerSec : undefined,
  }));
  // The chart sits next to its JSON: results/drain.svg for a default run, <out>-drain.svg with --out.
  const svgFile = values.out ? `${values.out.replace(/\.json$/, '')}-drain.svg` : join(outDir, quick ? 'drain-quick.svg' : 'drain.svg');
  if (points.length > 0) {
    writeFileSync(svgFile, renderDrainSvg(points, `drain/s by number of clients — ${date}, ${info.machine.nproc} cores, ${info.machine.uname}`));
  }

  const out = [
    `Peer benchmark, ${results.date}: ${info.machine.nproc} cores, ${info.machine.uname}, Node.js ${info.machine.node}`,
    `Versions: ${Object.entries(info.versions).map(([name, version]) => `${name} ${version}`).join(', ')}`,
    `Command: ${command}`,
    '',
  ];
  if (drains.length > 0) out.push('### Drain', '', drainTable(drains), '');
  if (fair.length > 0) out.push(`### Fairness: one client with ${bigJobs.toLocaleString('en')} queued, then ${FAIR_SMALL_CLIENTS} clients with one each`, '', fairTable(fair), '');
  if (latency.length > 0) out.push(`### Enqueue → start latency at a fixed offered rate (${LATENCY_CLIENTS} clients, ${latencySeconds} s, one worker process)`, '', latencyTable(latency), '');
  if (http) out.push('### HTTP enqueue', '', httpTable(http), '');
  out.push(`JSON: ${jsonFile}${points.length > 0 ? `, chart: ${svgFile}` : ''}`);
  console.log(out.join('\n'));
}

await main();
