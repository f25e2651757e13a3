// A worker process of one peer system for the peer benchmark. Configured by PEER_SYSTEM and
// PEER_CONFIG (JSON: redisUrl, prefix, clients, concurrency, databaseUrl); every system runs the
// same job (recorder.mjs) and reports to the driver over IPC.
import console from 'node:console';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { URL } from 'node:url';
import { Redis } from 'ioredis';
import { ready, runJob } from './recorder.mjs';

const system = process.env.PEER_SYSTEM;
const config = JSON.parse(process.env.PEER_CONFIG ?? '{}');
const closers = [];

function redisConnection() {
  const url = new URL(config.redisUrl);
  // BullMQ workers need maxRetriesPerRequest: null on the connections they block on.
  const redis = new Redis({ host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null });
  closers.push(() => redis.quit());
  return redis;
}

async function startBullmqPerClient() {
  const { Worker } = await import('bullmq');
  const connection = redisConnection();
  const workers = [];
  // One Worker per client queue, as BullMQ's documentation does it; the queues' global
  // concurrency of 1 (set by the producer) keeps one job of a client in flight across processes.
  for (let c = 0; c < config.clients; c += 1) {
    workers.push(
      new Worker(`c${c}`, (job) => runJob(job.data), {
        connection,
        prefix: config.prefix,
        concurrency: 1,
      }),
    );
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  closers.unshift(() => Promise.all(workers.map((worker) => worker.close(true))));
}

async function startBullmqUnordered() {
  const { Worker } = await import('bullmq');
  const connection = redisConnection();
  const worker = new Worker('all', (job) => runJob(job.data), {
    connection,
    prefix: config.prefix,
    concurrency: config.concurrency,
  });
  await worker.waitUntilReady();
  closers.unshift(() => worker.close(true));
}

async function startGroupmq() {
  const { Queue, Worker } = await import('groupmq');
  const redis = redisConnection();
  const queue = new Queue({ redis, namespace: config.prefix, jobTimeoutMs: 30_000 });
  const worker = new Worker({ queue, concurrency: config.concurrency, handler: (job) => runJob(job.data) });
  void worker.run();
  closers.unshift(() => worker.close(0));
}

async function startGraphile() {
  const { run } = await import('graphile-worker');
  const runner = await run({
    connectionString: config.databaseUrl,
    concurrency: config.concurrency,
    maxPoolSize: config.poolSize,
    noHandleSignals: true,
    pollInterval: Number(process.env.GRAPHILE_POLL_INTERVAL ?? 2_000),
    logger: quietLogger(await import('graphile-worker')),
    taskList: { noop: (payload) => runJob(payload) },
  });
  closers.unshift(() => runner.stop());
}

function quietLogger({ Logger }) {
  return new Logger(() => (level, message) => {
    if (level === 'error') console.error(`graphile-worker: ${message}`);
  });
}

const starters = {
  'bullmq-per-client': startBullmqPerClient,
  'bullmq-unordered': startBullmqUnordered,
  groupmq: startGroupmq,
  graphile: startGraphile,
};

const start = starters[system];
if (!start) {
  console.error(`peer-worker: unknown system ${system}`);
  process.exit(2);
}
process.once('SIGTERM', () => {
  const timer = setTimeout(() => process.exit(0), 5_000);
  timer.unref();
  void (async () => {
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    process.exit(0);
  })();
});
await start();
ready();
