/**
 * The chaos suite's moving parts, shared by the driver (`npm run chaos`, bench/chaos/main.ts), the
 * soak test and the CI test (tests/chaos/chaos-short.test.ts): laneq processes started the way an
 * operator starts them, a private redis-server, an isolated key prefix and database, HTTP users,
 * the attempt logs written by the `chaos` handler (bench/chaos/handlers.mjs) and the checks that
 * judge a run from them and from the archive.
 *
 * Every process started here is registered and killed by `killEverything()`, which the driver
 * calls on exit and on SIGINT/SIGTERM and the test calls in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { ensureDatabase } from '../../src/db/pool.js';
import { KeySpace } from '../../src/queue/keys.js';
import { countUnfinished } from '../../src/queue/snapshot.js';
import { freePort } from '../../tests/helpers/process.js';
import { unlinkKeysUnder } from '../cleanup.js';

export { freePort };

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHAOS_HANDLERS = './bench/chaos/handlers.mjs';

/**
 * How laneq processes are started: `dist` is `node dist/main.js` (what `npm start` runs; needs
 * `npm run build`), `src` is `node --import tsx src/main.ts` (what the tests run, no build).
 */
export type Entry = 'dist' | 'src';

export type Log = (line: string) => void;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Wall-clock milliseconds with sub-millisecond precision, the clock the handler logs use. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 120_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}


// ---------------------------------------------------------------------------------------------
// Processes

const everything = new Set<ChildProcess>();

/** SIGKILLs every process this module started that is still running (laneq, redis-server). */
export function killEverything(): void {
  for (const child of everything) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  everything.clear();
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** resolves with the moment (now()) the process was seen to exit, and how */
  readonly exited: Promise<{ at: number; code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** the last 20,000 characters it printed */
  output(): string;
  /** log messages (the `msg` of JSON log lines) it printed, counted */
  readonly messages: Map<string, number>;
  /** SIGKILL; resolves with the moment it was seen to exit */
  kill(): Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<void>;
}

function track(name: string, child: ChildProcess): Proc {
  everything.add(child);
  let printed = '';
  const messages = new Map<string, number>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    printed = (printed + text).slice(-20_000);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        const msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
        messages.set(msg, (messages.get(msg) ?? 0) + 1);
      } catch {
        // not a log line
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ at: number; code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      everything.delete(child);
      resolve({ at: now(), code, signal });
    });
  });
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    output: () => printed,
    messages,
    async kill() {
      if (proc.alive) child.kill('SIGKILL');
      return (await exited).at;
    },
    async stop(graceMs = 10_000) {
      if (!proc.alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return proc;
}

/** A laneq process (`ROLE=api|worker|all`) with `env` on top of this process's environment. */
export function spawnLaneq(entry: Entry, name: string, env: Record<string, string>, nodeFlags: string[] = []): Proc {
  const args =
    entry === 'dist'
      ? [...nodeFlags, '--max-semi-space-size=4', 'dist/main.js']
      : [...nodeFlags, '--max-semi-space-size=4', '--import', 'tsx', 'src/main.ts'];
  if (entry === 'dist' && !existsSync(join(PROJECT_ROOT, 'dist/main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` (npm run chaos does)');
  }
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return track(name, child);
}

/** Waits until the HTTP API at `base` answers /health/live; fails if `proc` exits first. */
export async function waitUntilLive(base: string, proc: Proc, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      if (!proc.alive) throw new Error(`${proc.name} exited before its API answered:\n${proc.output()}`);
      try {
        return (await fetch(`${base}/health/live`)).ok;
      } catch {
        return false;
      }
    },
    `${proc.name} to listen`,
    timeoutMs,
    100,
  );
}

// ---------------------------------------------------------------------------------------------
// A private redis-server

const redisServers = new Set<RedisServer>();

export class RedisServer {
  private proc: Proc | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: string[],
  ) {}

  /**
   * A redis-server on a spare port with its data in a fresh temporary folder, started with
   * `args` (e.g. ['--appendonly', 'yes', '--appendfsync', 'always']).
   */
  static async start(args: string[]): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'laneq-chaos-redis-')), args);
    redisServers.add(server);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and folder, and waits until it answers PING with data loaded. */
  async restart(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--maxmemory-policy', 'noeviction', ...this.args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = track(`redis-server:${this.port}`, child);
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(
        async () => {
          if (!this.proc?.alive) throw new Error(`redis-server exited:\n${this.proc?.output() ?? ''}`);
          try {
            if (probe.status !== 'ready') await probe.connect();
            return (await probe.ping()) === 'PONG';
          } catch {
            probe.disconnect();
            return false;
          }
        },
        'redis-server to answer',
        30_000,
        50,
      );
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL, as a crash; resolves with the moment it was gone. */
  async kill(): Promise<number> {
    return (await this.proc?.kill()) ?? now();
  }

  async stop(): Promise<void> {
    redisServers.delete(this);
    await this.proc?.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Isolation: a key prefix and a database of one's own

export interface Isolation {
  tag: string;
  redisUrl: string;
  postgresUrl: string;
  databaseUrl: string;
  keyPrefix: string;
  keys: KeySpace;
  jwtSecret: string;
  logDir: string;
  /** the environment every laneq process of the run shares */
  env: Record<string, string>;
  redis: Redis;
  pool: pg.Pool;
  cleanup(): Promise<void>;
}

export async function isolate(
  label: string,
  options: { redisUrl?: string; postgresUrl?: string; env?: Record<string, string> } = {},
): Promise<Isolation> {
  const tag = `${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
  const postgresUrl = options.postgresUrl ?? 'postgres://root@127.0.0.1:5432';
  const databaseUrl = `${postgresUrl}/${tag}`;
  const keyPrefix = tag.replace(/_/g, '-').slice(0, 32);
  const jwtSecret = randomBytes(32).toString('hex');
  const logDir = mkdtempSync(join(tmpdir(), 'laneq-chaos-log-'));
  await ensureDatabase(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => undefined);
  await migrate(pool);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 100, 1_000) });
  redis.on('error', () => undefined);
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    QUEUE_SHARDS: '8',
    LOG_LEVEL: 'warn',
    REDIS_URL: redisUrl,
    REDIS_CLUSTER_NODES: '',
    DATABASE_URL: databaseUrl,
    KEY_PREFIX: keyPrefix,
    JWT_SECRET: jwtSecret,
    HANDLERS: CHAOS_HANDLERS,
    CHAOS_LOG_DIR: logDir,
    SHUTDOWN_GRACE_MS: '2000',
    RATE_LIMIT_AUTH_PER_IP: '1000000',
    RATE_LIMIT_ENQUEUE_PER_S: '1000000',
    MAX_QUEUE_DEPTH: '10000000',
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '500',
    ...options.env,
  };
  const isolation: Isolation = {
    tag,
    redisUrl,
    postgresUrl,
    databaseUrl,
    keyPrefix,
    keys: new KeySpace(keyPrefix, Number(env.QUEUE_SHARDS ?? 8)),
    jwtSecret,
    logDir,
    env,
    redis,
    pool,
    async cleanup() {
      isolations.delete(isolation);
      const within = <T>(promise: Promise<T>, ms: number) =>
        Promise.race([promise.then(() => undefined), sleep(ms)]).catch(() => undefined);
      // The database first (it outlives everything else), then the keys: neither may hang.
      await within(pool.end(), 2_000);
      const admin = new pg.Client({ connectionString: `${postgresUrl}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(tag)} WITH (FORCE)`);
      await admin.end();
      await within(unlinkKeysUnder(redis, keyPrefix), 30_000);
      redis.disconnect();
      rmSync(logDir, { recursive: true, force: true });
    },
  };
  isolations.add(isolation);
  return isolation;
}

const isolations = new Set<Isolation>();

/** Kills every process and removes every key prefix and database still in use (on SIGINT). */
export async function abandonEverything(): Promise<void> {
  // laneq processes first, the private redis-servers once their keys are gone (or not: they are
  // thrown away with their folders anyway).
  for (const child of everything) if (!child.spawnargs[0]?.startsWith('redis-server')) child.kill('SIGKILL');
  await Promise.all([...isolations].map((isolation) => isolation.cleanup().catch(() => undefined)));
  killEverything();
  for (const server of redisServers) rmSync(server.dir, { recursive: true, force: true });
  redisServers.clear();
}

/** Requests not finished yet (queued, running, waiting for a retry), over every shard. */
export async function unfinished(iso: Isolation): Promise<number> {
  return countUnfinished(iso.redis, iso.keys);
}

interface StreamState {
  length: number;
  /** entries the archivers have not written yet: read but unacknowledged, plus not read yet */
  waiting: number;
}

/** Per shard, the archive stream's length and what of it still waits for PostgreSQL. */
async function archiveStreams(iso: Isolation): Promise<StreamState[]> {
  return Promise.all(
    iso.keys.shards.map(async (shard) => {
      const length = await iso.redis.xlen(shard.archive);
      if (length === 0) return { length, waiting: 0 };
      const groups = (await iso.redis.xinfo('GROUPS', shard.archive).catch(() => [])) as (string | number | null)[][];
      const group = groups.map((fields) => Object.fromEntries(fields.flatMap((value, n) => (n % 2 === 0 ? [[value, fields[n + 1]]] : [])))).find((g) => g.name === 'archivers');
      if (!group || group.lag === null || group.lag === undefined) return { length, waiting: length };
      return { length, waiting: Number(group.pending) + Number(group.lag) };
    }),
  );
}

/**
 * Final records waiting in the archive streams for PostgreSQL: entries read but not acknowledged
 * plus entries not read yet (XINFO GROUPS pending + lag). Not XLEN: an entry acknowledged but not
 * deleted (an archiver killed between XACK and XDEL) stays in the stream although it is archived.
 */
export async function archiveBacklog(iso: Isolation): Promise<number> {
  return (await archiveStreams(iso)).reduce((sum, stream) => sum + stream.waiting, 0);
}

/** Stream entries already archived and acknowledged but never deleted (they stay in Redis for good). */
export async function leftoverArchiveEntries(iso: Isolation): Promise<number> {
  return (await archiveStreams(iso)).reduce((sum, stream) => sum + stream.length - stream.waiting, 0);
}

export async function archivedCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM requests');
  return Number(rows[0]?.count);
}

/** How many worker processes listen on the wake channel. */
export async function subscribedWorkers(iso: Isolation): Promise<number> {
  const [, count] = (await iso.redis.pubsub('NUMSUB', iso.keys.wakeChannel)) as [string, number];
  return Number(count);
}

/** Waits until nothing is left in Redis and the archive has every final record; logs progress every 10 s. */
export async function waitForDrain(iso: Isolation, what: string, timeoutMs: number, log: Log = () => undefined): Promise<void> {
  let lastLog = Date.now();
  await waitFor(
    async () => {
      const [left, backlog] = await Promise.all([unfinished(iso), archiveBacklog(iso)]);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`  waiting for ${what}: ${left} unfinished, ${backlog} archive stream entries waiting`);
      }
      return left === 0 && backlog === 0;
    },
    what,
    timeoutMs,
    200,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP users

export interface User {
  index: number;
  id: string;
  token: string;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Registers and signs in `count` users (a few at a time: argon2 costs ~20 MiB and a core each). */
export async function signInUsers(base: string, count: number, label: string): Promise<User[]> {
  const users: User[] = new Array<User>(count);
  let next = 0;
  const one = async () => {
    for (let index = next++; index < count; index = next++) {
      const username = `${label}_${index}_${randomBytes(3).toString('hex')}`;
      const password = 'chaos suite password';
      const registered = await postJson(`${base}/api/auth/register`, { username, password });
      if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
      const login = await postJson(`${base}/api/auth/login`, { username, password });
      if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
      users[index] = { index, id: String(registered.body.id), token: String(login.body.accessToken) };
    }
  };
  await Promise.all(Array.from({ length: 4 }, one));
  return users;
}

// ---------------------------------------------------------------------------------------------
// Attempt logs and archive rows

export interface AttemptEvent {
  kind: 'S' | 'F' | 'A';
  id: string;
  attempt: number;
  at: number;
  pid: number;
}

/** Every line the `chaos` handler wrote, all processes together. */
export function readAttemptLogs(dir: string): AttemptEvent[] {
  const events: AttemptEvent[] = [];
  if (!existsSync(dir)) return events;
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.log')) continue;
    const pid = Number(file.slice(0, -4));
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const [kind, id, attempt, at] = line.split(' ');
      // A line cut short by SIGKILL in the middle of write(2) cannot happen for writes this small,
      // but a malformed line is skipped rather than trusted.
      if ((kind !== 'S' && kind !== 'F' && kind !== 'A') || !id || !attempt || !at) continue;
      events.push({ kind, id, attempt: Number(attempt), at: Number(at), pid });
    }
  }
  return events;
}

export interface ArchiveRow {
  id: string;
  client_id: string;
  status: string;
  attempts: number;
  history: { a: number; s: number; f: number; er: { message: string; code?: string } }[] | null;
  payload: unknown;
  started_ms: number | null;
  finished_ms: number;
}

export async function archiveRows(pool: pg.Pool): Promise<ArchiveRow[]> {
  const { rows } = await pool.query<ArchiveRow>(
    `SELECT id, client_id, status, attempts, history, payload,
            round(extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
            round(extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms
     FROM requests`,
  );
  return rows;
}

export interface Verdict {
  /** requests the producers saw accepted */
  accepted: number;
  /** accepted requests with an archive row */
  archived: number;
  /** accepted requests with no archive row */
  lost: number;
  /** archive rows of requests never accepted (unanswered enqueues that did go in) */
  extra: number;
  /** accepted requests whose final state is not `succeeded` */
  notSucceeded: number;
  /** attempts beyond the first, summed over requests (from the archive's attempt counts) */
  redeliveries: number;
  /** requests run more than once */
  requestsRedelivered: number;
  /** redeliveries whose failed attempt is recorded in the request's history, by error code */
  redeliveryCauses: Record<string, number>;
  /** handler runs (S lines) */
  executions: number;
  /** handler runs that got to the end (F lines) more than once for the same request: each one counted as an attempt */
  repeatedCompletions: number;
  /**
   * Runs the client cannot see counted: a handler run whose attempt number is above the request's
   * attempt count, or two runs with the same attempt number, or attempts without history.
   */
  uncounted: string[];
  /** from the archive (Redis clock), every attempt of a client in enqueue order, none overlapping */
  orderViolations: string[];
  overlapViolations: string[];
  /** the same from the handlers' own start/finish lines (killed attempts end when their process died) */
  handlerOrderViolations: string[];
  handlerOverlapViolations: string[];
  /** handler runs that neither finished nor were aborted, in a process that was not killed */
  vanished: string[];
  /** handler runs cut short by the SIGKILL of their process */
  killedRuns: number;
}

/**
 * Judges a run. `ids` lists, per client, the ids the producers saw accepted, in the order the
 * client enqueued them; `deaths` maps the pid of every SIGKILLed laneq process to the moment it
 * was seen dead.
 *
 * Overlap, attempt by attempt. An attempt of a killed worker has no end line: it ended, at the
 * latest, when its process was seen dead (`deaths`); the next attempt of that request may only
 * start after the lease ran out, i.e. after the death, and the client's next request only after
 * the last attempt finished. A live worker ends every attempt with an F or A line. So the
 * attempts of one client, sorted by start, must come in (request, attempt) order, each starting
 * at or after the end of every earlier one. The archive gives the same judgement on Redis's
 * clock: each failed attempt is in the history with its start and the moment it was given up
 * (for a lost lease, when the expired lease was noticed: after the death), the last attempt has
 * startedAt/finishedAt.
 */
export function verify(ids: string[][], rows: ArchiveRow[], events: AttemptEvent[], deaths: Map<number, number>): Verdict {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const accepted = new Set(ids.flat());
  const verdict: Verdict = {
    accepted: accepted.size,
    archived: 0,
    lost: 0,
    extra: rows.filter((row) => !accepted.has(row.id)).length,
    notSucceeded: 0,
    redeliveries: 0,
    requestsRedelivered: 0,
    redeliveryCauses: {},
    executions: 0,
    repeatedCompletions: 0,
    uncounted: [],
    orderViolations: [],
    overlapViolations: [],
    handlerOrderViolations: [],
    handlerOverlapViolations: [],
    vanished: [],
    killedRuns: 0,
  };
  const clientOf = new Map<string, { client: number; position: number }>();
  ids.forEach((list, client) => list.forEach((id, position) => clientOf.set(id, { client, position })));

  // Archive: present, final, attempts explained.
  for (const id of accepted) {
    const row = byId.get(id);
    if (!row) {
      verdict.lost += 1;
      continue;
    }
    verdict.archived += 1;
    if (row.status !== 'succeeded') verdict.notSucceeded += 1;
    verdict.redeliveries += row.attempts - 1;
    if (row.attempts > 1) verdict.requestsRedelivered += 1;
    const history = row.history ?? [];
    for (const entry of history) {
      const code = entry.er.code ?? 'error';
      verdict.redeliveryCauses[code] = (verdict.redeliveryCauses[code] ?? 0) + 1;
    }
    if (history.length !== row.attempts - 1) verdict.uncounted.push(`${id}: ${row.attempts} attempts, ${history.length} in history`);
  }

  // Archive timeline per client: every attempt as [start, end] on Redis's clock.
  ids.forEach((list, client) => {
    let previousEnd = Number.NEGATIVE_INFINITY;
    let previousStart = Number.NEGATIVE_INFINITY;
    let previousLabel = '';
    for (const id of list) {
      const row = byId.get(id);
      if (!row) continue;
      const spans = [...(row.history ?? []).map((entry) => ({ s: entry.s, f: entry.f, a: entry.a })), { s: row.started_ms ?? 0, f: row.finished_ms, a: row.attempts }];
      for (const span of spans) {
        const label = `${id}#${span.a}`;
        if (span.s < previousStart) verdict.orderViolations.push(`client ${client}: ${label} started before ${previousLabel}`);
        if (span.s < previousEnd) verdict.overlapViolations.push(`client ${client}: ${label} started before ${previousLabel} ended`);
        previousStart = span.s;
        previousEnd = Math.max(previousEnd, span.f);
        previousLabel = label;
      }
    }
  });

  // Handler logs: runs per request, and the timeline per client.
  const runs = new Map<string, { attempt: number; pid: number; start: number; end?: number; kind?: 'F' | 'A' }>();
  const runsOfRequest = new Map<string, number[]>();
  for (const event of events) {
    const key = `${event.id} ${event.attempt} ${event.pid}`;
    if (event.kind === 'S') {
      verdict.executions += 1;
      if (runs.has(key)) verdict.uncounted.push(`${event.id}: attempt ${event.attempt} started twice in process ${event.pid}`);
      runs.set(key, { attempt: event.attempt, pid: event.pid, start: event.at });
      const attempts = runsOfRequest.get(event.id) ?? [];
      attempts.push(event.attempt);
      runsOfRequest.set(event.id, attempts);
    }
  }
  for (const event of events) {
    if (event.kind === 'S') continue;
    const run = runs.get(`${event.id} ${event.attempt} ${event.pid}`);
    if (run) {
      run.end = event.at;
      run.kind = event.kind;
    }
  }
  for (const [id, attempts] of runsOfRequest) {
    const row = byId.get(id);
    if (new Set(attempts).size !== attempts.length) verdict.uncounted.push(`${id}: attempts ${attempts.join(',')} run more than once`);
    if (row && Math.max(...attempts) > row.attempts) verdict.uncounted.push(`${id}: run as attempt ${Math.max(...attempts)}, archived with ${row.attempts}`);
  }
  const completions = new Map<string, number>();
  for (const [key, run] of runs) {
    const id = key.slice(0, key.indexOf(' '));
    if (run.kind === 'F') completions.set(id, (completions.get(id) ?? 0) + 1);
    if (run.end === undefined) {
      const death = deaths.get(run.pid);
      if (death === undefined) verdict.vanished.push(`${id}#${run.attempt} in process ${run.pid}`);
      else {
        run.end = death;
        verdict.killedRuns += 1;
      }
    }
  }
  for (const count of completions.values()) if (count > 1) verdict.repeatedCompletions += count - 1;

  const timelines = new Map<number, { position: number; attempt: number; start: number; end: number; label: string }[]>();
  for (const [key, run] of runs) {
    const id = key.slice(0, key.indexOf(' '));
    const owner = clientOf.get(id);
    if (!owner) continue;
    const list = timelines.get(owner.client) ?? [];
    list.push({ position: owner.position, attempt: run.attempt, start: run.start, end: run.end ?? Number.POSITIVE_INFINITY, label: `${id}#${run.attempt}@${run.pid}` });
    timelines.set(owner.client, list);
  }
  for (const [client, list] of timelines) {
    list.sort((a, b) => a.start - b.start);
    let latestEnd = Number.NEGATIVE_INFINITY;
    let previous: (typeof list)[number] | undefined;
    for (const run of list) {
      if (previous && (run.position < previous.position || (run.position === previous.position && run.attempt < previous.attempt))) {
        verdict.handlerOrderViolations.push(`client ${client}: ${run.label} started after ${previous.label}`);
      }
      if (run.start < latestEnd) verdict.handlerOverlapViolations.push(`client ${client}: ${run.label} started before ${previous?.label ?? '?'} ended`);
      latestEnd = Math.max(latestEnd, run.end);
      previous = run;
    }
  }
  return verdict;
}

/** The failures of a verdict, as readable lines (empty: the run kept every promise). */
export function failuresOf(verdict: Verdict, options: { allowExtra?: boolean } = {}): string[] {
  const failures: string[] = [];
  const list = (name: string, items: string[]) => {
    if (items.length > 0) failures.push(`${items.length} ${name}: ${items.slice(0, 5).join('; ')}`);
  };
  if (verdict.lost > 0) failures.push(`${verdict.lost} accepted requests lost`);
  if (verdict.notSucceeded > 0) failures.push(`${verdict.notSucceeded} accepted requests not succeeded`);
  if (verdict.extra > 0 && !options.allowExtra) failures.push(`${verdict.extra} archive rows of requests never accepted`);
  list('uncounted runs', verdict.uncounted);
  list('order violations (archive)', verdict.orderViolations);
  list('overlap violations (archive)', verdict.overlapViolations);
  list('order violations (handler logs)', verdict.handlerOrderViolations);
  list('overlap violations (handler logs)', verdict.handlerOverlapViolations);
  list('handler runs that vanished from a live process', verdict.vanished);
  return failures;
}

/** The figures of a verdict, for printing: counts instead of lists. */
export function figuresOf(verdict: Verdict): Record<string, unknown> {
  return {
    accepted: verdict.accepted,
    archived: verdict.archived,
    lost: verdict.lost,
    extra: verdict.extra,
    notSucceeded: verdict.notSucceeded,
    redeliveries: verdict.redeliveries,
    requestsRedelivered: verdict.requestsRedelivered,
    redeliveryCauses: verdict.redeliveryCauses,
    handlerRuns: verdict.executions,
    killedRuns: verdict.killedRuns,
    repeatedCompletions: verdict.repeatedCompletions,
    uncounted: verdict.uncounted.length,
    orderViolations: verdict.orderViolations.length,
    overlapViolations: verdict.overlapViolations.length,
    handlerOrderViolations: verdict.handlerOrderViolations.length,
    handlerOverlapViolations: verdict.handlerOverlapViolations.length,
    vanished: verdict.vanished.length,
  };
}
