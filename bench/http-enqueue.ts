/**
 * Authenticated HTTP enqueue benchmark: `npm run bench:http -- [--seconds S] [--connections N]
 * [--batch B]`.
 *
 * Starts the API alone (`ROLE=api`, as `npm run start:api` does, on its own database and key
 * prefix, without workers, so only enqueue is measured), signs in one user per connection, and
 * drives `POST /api/queue/enqueue` with autocannon: first single requests `{type: "noop"}`, then
 * batches of B. Prints a table and, as its last line, a JSON object with the figures.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cleanupBenchData } from './cleanup.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    batch: { type: 'string', default: '100' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    postgres: { type: 'string', default: 'postgres://root@127.0.0.1:5432' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const batchSize = Number(values.batch);
const tag = `benchhttp_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function json(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

async function signIn(base: string, n: number): Promise<string> {
  const username = `bench_${n}_${randomBytes(3).toString('hex')}`;
  await json(`${base}/api/auth/register`, { username, password: 'benchmark password' });
  return String((await json(`${base}/api/auth/login`, { username, password: 'benchmark password' })).accessToken);
}

async function waitUntilLive(base: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    try {
      if ((await fetch(`${base}/health/live`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the API did not come up');
}

async function drive(base: string, tokens: string[], body: string): Promise<autocannon.Result> {
  return autocannon({
    url: `${base}/api/queue/enqueue`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        // Each connection enqueues as its own user, the way many clients would.
        setupRequest: (request, context: { token?: string }) => {
          context.token ??= tokens[Math.floor(Math.random() * tokens.length)];
          return { ...request, headers: { 'content-type': 'application/json', authorization: `Bearer ${context.token}` }, body };
        },
      },
    ],
  });
}

async function main(): Promise<void> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    ROLE: 'api',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    REDIS_URL: values.redis,
    DATABASE_URL: `${values.postgres}/${tag}`,
    KEY_PREFIX: tag.replace(/_/g, '-').slice(0, 32),
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_ENQUEUE_PER_S: '1000000',
    RATE_LIMIT_AUTH_PER_IP: '1000000',
    MAX_QUEUE_DEPTH: '100000000',
  };
  const api = spawn(process.execPath, ['--max-semi-space-size=4', ...(process.env.API_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.API_CPU_PROF}`] : []), 'dist/main.js'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    await waitUntilLive(base);
    const tokens = await Promise.all(Array.from({ length: connections }, (_, n) => signIn(base, n)));
    const single = await drive(base, tokens, JSON.stringify({ type: 'noop' }));
    const batch = await drive(base, tokens, JSON.stringify({ requests: Array.from({ length: batchSize }, () => ({ type: 'noop' })) }));
    const result = {
      connections,
      seconds,
      singleCallsPerSec: Math.round(single.requests.average),
      singleP99Ms: single.latency.p99,
      singleErrors: single.errors + single.non2xx,
      batchSize,
      batchCallsPerSec: Math.round(batch.requests.average),
      batchRequestsPerSec: Math.round(batch.requests.average * batchSize),
      batchP99Ms: batch.latency.p99,
      batchErrors: batch.errors + batch.non2xx,
    };
    console.log('| mode | calls/s | requests enqueued/s | p99 ms | errors |');
    console.log('|---|---|---|---|---|');
    console.log(`| single | ${result.singleCallsPerSec} | ${result.singleCallsPerSec} | ${result.singleP99Ms} | ${result.singleErrors} |`);
    console.log(`| batch of ${batchSize} | ${result.batchCallsPerSec} | ${result.batchRequestsPerSec} | ${result.batchP99Ms} | ${result.batchErrors} |`);
    console.log(JSON.stringify(result));
  } finally {
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
    await cleanupBenchData(values.redis, values.postgres, env.KEY_PREFIX, tag);
  }
}

await main();
