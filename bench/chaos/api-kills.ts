/**
 * Chaos scenario d: users send many concurrent batch enqueues (e.g. 500 requests each) to an API
 * process (`ROLE=api`) that is SIGKILLed several times and restarted on the same port. Afterwards
 * every batch must be wholly in Redis or wholly out, never in part: each request carries its
 * batch's marker in its payload, and the unfinished requests (heads and backlogs) are counted per marker.
 * No worker runs, so everything enqueued is still queued when it is counted.
 */
import {
  freePort,
  isolate,
  now,
  signInUsers,
  sleep,
  spawnLaneq,
  waitUntilLive,
  type Entry,
  type Isolation,
  type Log,
  type Proc,
} from './harness.js';
import { scanKeys } from '../../src/queue/admin.js';
import { Producers } from './producers.js';

export interface ApiKillOptions {
  entry: Entry;
  users: number;
  batchSize: number;
  kills: number;
  /** time between a restart and the next kill (randomised ±50%) */
  intervalMs: number;
  /** the Redis to run on (default: the shared one at 127.0.0.1:6379) */
  redisUrl?: string;
  log?: Log;
}

export interface ApiKillReport {
  scenario: 'api-kills';
  users: number;
  batchSize: number;
  kills: number;
  batchesSent: number;
  acknowledged: number;
  /** acknowledged batches found whole */
  acknowledgedWhole: number;
  /** sent, the connection cut before an answer, found whole */
  unansweredWhollyIn: number;
  /** sent, the connection cut before an answer, found absent */
  unansweredWhollyOut: number;
  /** never sent: the API was down (connection refused) */
  notConnected: number;
  refused: number;
  /** batches found in part: must be 0 */
  partial: number;
  /** batches found more than once: must be 0 */
  duplicated: number;
  requestsInRedis: number;
  /** from each SIGKILL to the restarted API answering, ms */
  restartMs: number[];
  failures: string[];
}

/** Requests per batch marker, over every unfinished request: clients' heads and backlogs. */
async function countByMarker(iso: Isolation): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const count = (json: string) => {
    const stored = JSON.parse(json) as { p: string };
    const marker = (JSON.parse(stored.p) as { b: string }).b;
    counts.set(marker, (counts.get(marker) ?? 0) + 1);
  };
  for (const shard of iso.keys.shards) {
    let cursor = '0';
    do {
      const [next, entries] = await iso.redis.hscan(`${shard.base}heads`, cursor, 'COUNT', 2_000);
      cursor = next;
      for (let n = 1; n < entries.length; n += 2) count(entries[n] as string);
    } while (cursor !== '0');
  }
  // A backlog alternates ids and records.
  const { keys } = await scanKeys(iso.redis, `${iso.keys.prefix}:{s*}:q:*`, Number.POSITIVE_INFINITY);
  for (const key of keys) {
    const elements = await iso.redis.lrange(key, 0, -1);
    for (let n = 1; n < elements.length; n += 2) count(elements[n] as string);
  }
  return counts;
}

export async function runApiKills(options: ApiKillOptions): Promise<ApiKillReport> {
  const log = options.log ?? (() => undefined);
  const iso = await isolate('chaos_api', { ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}) });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { ...iso.env, ROLE: 'api', PORT: String(port) };
  let api: Proc = spawnLaneq(options.entry, 'api', env);
  const every: Proc[] = [api];
  try {
    await waitUntilLive(base, api);
    const users = await signInUsers(base, options.users, 'chaos_api');
    const producers = new Producers({ base: () => base, users, batchSize: options.batchSize, ms: 0, backoffMs: 50 });
    const restartMs: number[] = [];
    for (let kill = 1; kill <= options.kills; kill += 1) {
      await sleep(options.intervalMs * (0.5 + Math.random()));
      const acknowledged = producers.stats.ackTimes.length;
      const diedAt = await api.kill();
      api = spawnLaneq(options.entry, 'api', env);
      every.push(api);
      await waitUntilLive(base, api);
      restartMs.push(Math.round(now() - diedAt));
      log(`  kill ${kill}/${options.kills}: API SIGKILLed after ${acknowledged} acknowledged batches; answering again after ${restartMs.at(-1)} ms`);
    }
    await sleep(options.intervalMs / 2);
    const stats = await producers.stop();
    const exitedUnasked = every.slice(0, -1).filter((proc) => proc.alive).length + (api.alive ? 0 : 1);

    const counts = await countByMarker(iso);
    let acknowledgedWhole = 0;
    let unansweredWhollyIn = 0;
    let unansweredWhollyOut = 0;
    let refused = 0;
    let notConnected = 0;
    let partial = 0;
    let duplicated = 0;
    const failures: string[] = [];
    for (const [marker, outcome] of stats.batches) {
      const count = counts.get(marker) ?? 0;
      if (count !== 0 && count !== options.batchSize) {
        if (count > options.batchSize) duplicated += 1;
        else partial += 1;
        failures.push(`batch ${marker} (${outcome}) has ${count} of ${options.batchSize} requests in Redis`);
        continue;
      }
      if (outcome === 'acked') {
        if (count === options.batchSize) acknowledgedWhole += 1;
        else failures.push(`acknowledged batch ${marker} is missing`);
      } else if (outcome === 'refused') refused += 1;
      else if (outcome.endsWith('ECONNREFUSED') && count === 0) notConnected += 1;
      else if (count === options.batchSize) unansweredWhollyIn += 1;
      else unansweredWhollyOut += 1;
    }
    const acknowledged = [...stats.batches.values()].filter((outcome) => outcome === 'acked').length;
    if (exitedUnasked > 0) failures.push(`${exitedUnasked} API processes exited or survived unexpectedly`);
    if (options.kills > 0 && unansweredWhollyIn + unansweredWhollyOut === 0) log('  (no batch was in flight at a kill)');
    await api.stop(5_000);
    return {
      scenario: 'api-kills',
      users: options.users,
      batchSize: options.batchSize,
      kills: options.kills,
      batchesSent: stats.batches.size,
      acknowledged,
      acknowledgedWhole,
      unansweredWhollyIn,
      unansweredWhollyOut,
      notConnected,
      refused,
      partial,
      duplicated,
      requestsInRedis: [...counts.values()].reduce((sum, count) => sum + count, 0),
      restartMs,
      failures: failures.slice(0, 20),
    };
  } finally {
    await Promise.all(every.map((proc) => proc.kill()));
    await iso.cleanup();
  }
}
