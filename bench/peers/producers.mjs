// The enqueue side of each peer system in the peer benchmark (runs in the driver process).
// Plain JavaScript so that the root type check (tsc over bench/) does not need the peers
// installed; producers.d.mts types it for the driver.
import { readFileSync } from 'node:fs';
import { URL } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';

function redisConnection(redisUrl) {
  const url = new URL(redisUrl);
  return new Redis({ host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null });
}

/** Groups entries by client, keeping each client's order. */
function byClient(entries) {
  const groups = new Map();
  for (const entry of entries) {
    const list = groups.get(entry.c);
    if (list) list.push(entry);
    else groups.set(entry.c, [entry]);
  }
  return groups;
}

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true, attempts: 3 };

async function bullmqPerClient({ redisUrl, prefix }) {
  const { Queue } = await import('bullmq');
  const connection = redisConnection(redisUrl);
  const queues = new Map();
  const queueOf = async (c) => {
    let queue = queues.get(c);
    if (!queue) {
      queue = new Queue(`c${c}`, { connection, prefix });
      queues.set(c, queue);
      await queue.setGlobalConcurrency(1);
    }
    return queue;
  };
  return {
    async prepare(clients) {
      for (let c = 0; c < clients; c += 1) await queueOf(c);
    },
    async enqueueBatch(entries) {
      await Promise.all(
        [...byClient(entries)].map(async ([c, list]) =>
          (await queueOf(c)).addBulk(list.map((data) => ({ name: 'noop', data, opts: JOB_OPTIONS }))),
        ),
      );
    },
    async enqueueOne(entry) {
      await (await queueOf(entry.c)).add('noop', entry, JOB_OPTIONS);
    },
    async close() {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
      await connection.quit();
    },
  };
}

async function bullmqUnordered({ redisUrl, prefix }) {
  const { Queue } = await import('bullmq');
  const connection = redisConnection(redisUrl);
  const queue = new Queue('all', { connection, prefix });
  return {
    async prepare() {
      await queue.waitUntilReady();
    },
    async enqueueBatch(entries) {
      for (let start = 0; start < entries.length; start += 1_000) {
        await queue.addBulk(entries.slice(start, start + 1_000).map((data) => ({ name: 'noop', data, opts: JOB_OPTIONS })));
      }
    },
    async enqueueOne(entry) {
      await queue.add('noop', entry, JOB_OPTIONS);
    },
    async close() {
      await queue.close();
      await connection.quit();
    },
  };
}

async function groupmq({ redisUrl, prefix }) {
  const { Queue } = await import('groupmq');
  const redis = redisConnection(redisUrl);
  const queue = new Queue({ redis, namespace: prefix, jobTimeoutMs: 30_000 });
  return {
    async prepare() {},
    // GroupMQ has no bulk add: one add per job, all of a batch in flight at once on one
    // connection (so they reach Redis in call order).
    async enqueueBatch(entries) {
      await Promise.all(entries.map((data) => queue.add({ groupId: `c${data.c}`, data, maxAttempts: 3 })));
    },
    async enqueueOne(entry) {
      await queue.add({ groupId: `c${entry.c}`, data: entry, maxAttempts: 3 });
    },
    async close() {
      await queue.close();
      await redis.quit().catch(() => undefined); // the queue may have closed it already
    },
  };
}

async function graphile({ databaseUrl }) {
  const { makeWorkerUtils } = await import('graphile-worker');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // The database is dropped (WITH FORCE) at the end of the run: idle connections ending then are expected.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const utils = await makeWorkerUtils({ pgPool: pool });
  await utils.migrate();
  return {
    async prepare() {},
    // addJobs: one INSERT per call through graphile_worker.add_jobs; each client is its own
    // queue_name, so its jobs run one at a time in insertion order.
    async enqueueBatch(entries) {
      for (let start = 0; start < entries.length; start += 1_000) {
        await utils.addJobs(
          entries.slice(start, start + 1_000).map((data) => ({ identifier: 'noop', payload: data, queueName: `c${data.c}`, maxAttempts: 3 })),
        );
      }
    },
    async enqueueOne(entry) {
      await pool.query('SELECT graphile_worker.add_job($1, $2::json, queue_name => $3, max_attempts => 3)', [
        'noop',
        JSON.stringify(entry),
        `c${entry.c}`,
      ]);
    },
    async close() {
      await utils.release();
      await pool.end();
    },
  };
}

export const producers = {
  'bullmq-per-client': bullmqPerClient,
  'bullmq-unordered': bullmqUnordered,
  groupmq,
  graphile,
};

/** Installed versions of the peers (from bench/peers/node_modules). */
export function peerVersions() {
  const versions = {};
  for (const name of ['bullmq', 'groupmq', 'graphile-worker', 'ioredis']) {
    try {
      const file = new URL(`./node_modules/${name}/package.json`, import.meta.url);
      versions[name] = JSON.parse(readFileSync(file, 'utf8')).version;
    } catch {
      versions[name] = 'not installed';
    }
  }
  return versions;
}
