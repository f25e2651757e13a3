/**
 * Redis CPU per request of the engine's hot scripts alone: `npx tsx bench/scripts-cost.ts
 * [--clients C] [--per-client J] [--batch B] [--redis URL]`. Enqueues C × J no-op requests, then
 * one loop claims and completes them (complete-and-claim-next, B per call, every shard in turn)
 * with no handler, no worker process and no archiver, and prints the Redis CPU seconds the drain
 * cost per request. Use a Redis nobody else uses: its CPU counters are process-wide.
 * With --callgrind (for bench/redis-instructions.sh, Redis running under valgrind) it also dumps
 * Redis's instruction counters before enqueueing, after enqueueing and after draining.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createEngine, createWorkerOps } from '../src/queue/index.js';
import type { NewRequest } from '../src/queue/engine.js';
import type { ClaimedRequest } from '../src/queue/worker-ops.js';
import { unlinkKeysUnder } from './cleanup.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    'per-client': { type: 'string', default: '100' },
    batch: { type: 'string', default: '64' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6391' },
    callgrind: { type: 'boolean', default: false },
  },
});
const clients = Number(values.clients);
const perClient = Number(values['per-client']);
const batch = Number(values.batch);
const prefix = `scripts-cost-${randomBytes(3).toString('hex')}`;
const config = loadConfig({
  REDIS_URL: values.redis,
  KEY_PREFIX: prefix,
  JWT_SECRET: randomBytes(32).toString('hex'),
  RESULT_RETENTION_COUNT: String(Math.max(perClient, 1)),
});
const redis = new Redis(config.REDIS_URL);
const engine = createEngine(config, redis);
const ops = createWorkerOps(config, engine);

async function redisCpuSeconds(): Promise<number> {
  const info = await redis.info('cpu');
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return read('used_cpu_user') + read('used_cpu_sys');
}

async function enqueueAll(): Promise<void> {
  const request: NewRequest = { type: 'noop', payload: null, maxAttempts: 3, timeoutMs: 60_000 };
  let pending: { clientId: string; request: NewRequest }[] = [];
  for (let round = 0; round < perClient; round += 1) {
    for (let client = 0; client < clients; client += 1) {
      pending.push({ clientId: `00000000-0000-4000-8000-${client.toString(16).padStart(12, '0')}`, request });
      if (pending.length === 10_000) {
        await engine.enqueueMany(pending);
        pending = [];
      }
    }
  }
  if (pending.length > 0) await engine.enqueueMany(pending);
}

/** Drains every shard with complete-and-claim-next calls; returns how many requests ended. */
async function drain(): Promise<number> {
  let done = 0;
  for (;;) {
    let progress = false;
    for (const shard of ops.shards) {
      let held: ClaimedRequest[] = (await ops.claim(shard, batch)).claimed;
      while (held.length > 0) {
        progress = true;
        const completions = held.map((request) => ({ request, outcome: { ok: true as const, resultJson: 'null' } }));
        const reply = await ops.completeMany(shard, completions, batch);
        done += reply.results.filter((result) => result === 'succeeded').length;
        held = reply.claimed;
      }
    }
    if (!progress) return done;
  }
}

/** Closes a phase of the instruction count: callgrind writes the counters so far and zeroes them. */
function endPhase(): void {
  if (values.callgrind) execFileSync('callgrind_control', ['--dump'], { stdio: 'ignore' });
}

async function main(): Promise<void> {
  endPhase();
  await enqueueAll();
  endPhase();
  const before = await redisCpuSeconds();
  const started = process.hrtime.bigint();
  const done = await drain();
  endPhase();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await redisCpuSeconds()) - before;
  console.log(
    `${done} requests: Redis ${((cpu / done) * 1e6).toFixed(1)} µs CPU per request, ` +
      `${Math.round(done / seconds)} requests/s in one sequential loop`,
  );
  // What the archiver then costs Redis: read, acknowledge and delete every stream entry.
  const archiveBefore = await redisCpuSeconds();
  for (const shard of ops.shards) {
    await redis.xgroup('CREATE', shard.archive, 'g', '0');
    for (;;) {
      const reply = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 16, 'STREAMS', shard.archive, '>')) as
        | [string, [string, string[]][]][]
        | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) break;
      const ids = entries.map(([id]) => id);
      await redis.xack(shard.archive, 'g', ...ids);
      await redis.xdel(shard.archive, ...ids);
    }
  }
  const archiveCpu = (await redisCpuSeconds()) - archiveBefore;
  console.log(`archive reads: Redis ${((archiveCpu / done) * 1e6).toFixed(1)} µs CPU per request`);
  await unlinkKeysUnder(redis, prefix);
  redis.disconnect();
}

await main();
