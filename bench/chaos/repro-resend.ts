/**
 * Reproduction (not part of the suite): `npx tsx bench/chaos/repro-resend.ts`.
 *
 * An enqueue whose reply is lost with its connection (Redis alive, the TCP connection cut: a
 * network blip, a proxy or load balancer restart) is sent again by ioredis when it reconnects
 * (autoResendUnfulfilledCommands, on by default), with the same request id, and enqueue.lua
 * appends it again: the id ends up twice in the client's queue, and its record is overwritten
 * with a fresh one. 20 producers enqueue through a TCP proxy that is cut 30 times; every call
 * succeeds, and the client queues then hold ids twice. Prints the counts.
 */
import { loadConfig } from '../../src/config.js';
import { createEngine } from '../../src/queue/index.js';
import { countUnfinished } from '../../src/queue/snapshot.js';
import { connectRedis } from '../../src/redis/connect.js';
import { TcpProxy } from '../../tests/helpers/tcp-proxy.js';
import { killEverything, RedisServer, sleep } from './harness.js';

const CLIENTS = 20;
const redis = await RedisServer.start(['--appendonly', 'no']);
const proxy = await TcpProxy.open('127.0.0.1', redis.port);
try {
  const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, KEY_PREFIX: 'resend', JWT_SECRET: 'x'.repeat(40), NODE_ENV: 'test' });
  // The connection the API uses (src/redis/connect.ts), through the proxy.
  const client = connectRedis(config, 'resend-repro');
  client.on('error', () => undefined);
  const engine = createEngine(config, client);
  let running = true;
  let ok = 0;
  let failed = 0;
  const producers = Array.from({ length: CLIENTS }, async (_, c) => {
    while (running) {
      try {
        await engine.enqueue(`client-${c}`, [{ type: 'noop', payload: { c }, maxAttempts: 1, timeoutMs: 1_000 }]);
        ok += 1;
      } catch {
        failed += 1;
        await sleep(5);
      }
    }
  });
  // Cut every connection 30 times; Redis itself stays up.
  for (let cut = 0; cut < 30; cut += 1) {
    await sleep(100);
    await proxy.stop();
    await sleep(20);
    await proxy.start();
  }
  running = false;
  await Promise.all(producers);

  const direct = connectRedis({ REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '' }, 'resend-check');
  let queued = 0;
  let duplicated = 0;
  for (let c = 0; c < CLIENTS; c += 1) {
    const { base } = engine.keys.forClient(`client-${c}`);
    const head = await direct.hget(`${base}heads`, `client-${c}`);
    const headIds = head === null ? [] : [(JSON.parse(head) as { i: string }).i];
    // A backlog alternates ids and records.
    const backlog = (await direct.lrange(`${base}q:client-${c}`, 0, -1)).filter((_, index) => index % 2 === 0);
    const ids = [...headIds, ...backlog];
    queued += ids.length;
    duplicated += ids.length - new Set(ids).size;
  }
  const records = await countUnfinished(direct, engine.keys);
  console.log({ enqueueCallsSucceeded: ok, enqueueCallsFailed: failed, idsInQueues: queued, records, duplicatedIdsInQueues: duplicated });
  direct.disconnect();
  client.disconnect();
} finally {
  await proxy.stop();
  await redis.stop();
  killEverything();
}
