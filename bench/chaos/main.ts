/**
 * The chaos suite: `npm run chaos [-- --quick] [--scenario a,b,c,d] [--entry dist|src]`.
 *
 *   a  C×J requests through 4 worker processes while random workers are SIGKILLed and restarted
 *   b  Redis SIGKILLed and restarted mid-run (AOF, appendfsync always, then everysec)
 *   c  PostgreSQL unreachable (TCP proxy cut) while requests keep coming
 *   d  the API process SIGKILLed during concurrent batch enqueues
 *
 * Each scenario runs on a redis-server of its own (started here on a spare port: nothing else on
 * the machine's shared Redis is disturbed, nor disturbs the figures), its own database, and
 * laneq processes started as an operator starts them (`node dist/main.js`, built by `npm run
 * chaos`). Each prints its figures and its verdict; the exit code is 1 when any scenario broke a
 * promise. The results are also written as JSON to bench/chaos/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runApiKills } from './api-kills.js';
import { abandonEverything, PROJECT_ROOT, RedisServer, type Entry } from './harness.js';
import { runPostgresOutage } from './postgres-outage.js';
import { runRedisRestart } from './redis-restart.js';
import { runWorkerKills } from './worker-kills.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string', default: 'a,b,c,d' },
    entry: { type: 'string', default: 'dist' },
    /** scenario c's outage, seconds (default 30, 5 with --quick) */
    'outage-s': { type: 'string' },
  },
});
const quick = values.quick;
const entry = values.entry as Entry;
const scenarios = new Set(values.scenario.split(',').map((name) => name.trim()));
const log = (line: string) => console.log(line);

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping every process and removing this run's data`);
    void abandonEverything().finally(() => process.exit(130));
  });
}

/** Scenarios a, c and d use a throw-away redis-server without persistence. */
async function withPrivateRedis<T>(run: (url: string) => Promise<T>): Promise<T> {
  const redis = await RedisServer.start(['--appendonly', 'no']);
  try {
    return await run(redis.url);
  } finally {
    await redis.stop();
  }
}

function print(title: string, report: Record<string, unknown>): void {
  const { verdict: _verdict, failures, ...figures } = report as { verdict?: unknown; failures: string[] };
  log(`\n## ${title}`);
  for (const [name, value] of Object.entries(figures)) log(`  ${name}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  log(failures.length === 0 ? '  verdict: PASS' : `  verdict: FAIL\n    ${failures.join('\n    ')}`);
}

const results: Record<string, unknown>[] = [];
const started = new Date();
log(`laneq chaos suite, ${quick ? 'quick' : 'full'}, scenarios ${[...scenarios].join(',')}, entry ${entry}, ${started.toISOString()}`);

try {
  if (scenarios.has('a')) {
    const options = quick
      ? { clients: 200, perClient: 20, workers: 4, kills: 4, maxMs: 100, concurrency: 8 }
      : { clients: 1_000, perClient: 100, workers: 4, kills: 20, maxMs: 100, concurrency: 32 };
    log(`\n# a. ${options.clients * options.perClient} requests, ${options.clients} clients, ${options.workers} worker processes, ${options.kills} SIGKILLs`);
    const report = await withPrivateRedis((redisUrl) => runWorkerKills({ ...options, entry, leaseMs: 2_000, heartbeatMs: 400, redisUrl, log }));
    print('a. worker processes SIGKILLed', report as unknown as Record<string, unknown>);
    results.push({ ...report, verdict: undefined });
  }
  if (scenarios.has('b')) {
    for (const appendfsync of ['always', 'everysec'] as const) {
      const options = quick
        ? { users: 20, workers: 2, beforeMs: 3_000, downMs: 3_000, afterMs: 3_000 }
        : { users: 50, workers: 2, beforeMs: 5_000, downMs: 5_000, afterMs: 5_000 };
      log(`\n# b. Redis SIGKILLed and restarted, appendonly yes, appendfsync ${appendfsync}, ${options.users} users enqueueing over HTTP`);
      const report = await runRedisRestart({ ...options, appendfsync, entry, log });
      print(`b. Redis SIGKILLed and restarted (appendfsync ${appendfsync})`, report as unknown as Record<string, unknown>);
      results.push({ ...report, verdict: undefined });
    }
  }
  if (scenarios.has('c')) {
    const outageS = Number(values['outage-s'] ?? (quick ? 5 : 30));
    const options = quick
      ? { clients: 100, workers: 2, roundMs: 250, beforeMs: 2_000, afterMs: 2_000 }
      : { clients: 200, workers: 2, roundMs: 250, beforeMs: 5_000, afterMs: 5_000 };
    log(`\n# c. PostgreSQL unreachable for ${outageS} s (TCP proxy cut), ${options.clients} clients enqueueing`);
    const report = await withPrivateRedis((redisUrl) => runPostgresOutage({ ...options, outageMs: outageS * 1000, entry, redisUrl, log }));
    print('c. PostgreSQL unreachable', report as unknown as Record<string, unknown>);
    results.push({ ...report, verdict: undefined });
  }
  if (scenarios.has('d')) {
    const options = quick ? { users: 10, batchSize: 500, kills: 2, intervalMs: 1_500 } : { users: 20, batchSize: 500, kills: 5, intervalMs: 2_000 };
    log(`\n# d. API SIGKILLed ${options.kills} times during batch enqueues (${options.users} users, batches of ${options.batchSize})`);
    const report = await withPrivateRedis((redisUrl) => runApiKills({ ...options, entry, redisUrl, log }));
    print('d. API SIGKILLed during batch enqueues', report as unknown as Record<string, unknown>);
    results.push(report as unknown as Record<string, unknown>);
  }
} catch (error) {
  if (!interrupted) {
    console.error(error);
    await abandonEverything();
    process.exit(2);
  }
}

const failed = results.filter((result) => ((result.failures as string[] | undefined) ?? []).length > 0);
const folder = join(PROJECT_ROOT, 'bench/chaos/results');
mkdirSync(folder, { recursive: true });
const file = join(folder, `chaos-${quick ? 'quick' : 'full'}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ started: started.toISOString(), quick, entry, scenarios: [...scenarios], results }, null, 2)}\n`);
log(`\n${results.length} scenario runs, ${failed.length} failed; results in ${file}`);
process.exit(failed.length > 0 ? 1 : 0);
