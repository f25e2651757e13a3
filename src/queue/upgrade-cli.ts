/** `npm run upgrade:redis`: rewrites queues stored by an earlier laneq into today's Redis layout. */
import { ConfigError, loadConfig } from '../config.js';
import { closeRedis, connectRedis } from '../redis/connect.js';
import { createEngine } from './index.js';
import { upgradeRedisLayout } from './upgrade-layout.js';

try {
  const config = loadConfig();
  const redis = connectRedis(config, 'laneq-upgrade');
  try {
    const { clients, requests } = await upgradeRedisLayout(createEngine(config, redis));
    console.log(clients ? `rewrote ${requests} requests of ${clients} clients` : 'Redis layout is up to date');
  } finally {
    await closeRedis(redis);
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `upgrade failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
