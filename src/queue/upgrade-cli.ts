/** `npm run upgrade:redis`: rewrites queues stored by an earlier laneq into today's Redis layout. */
import { ConfigError, loadConfig } from '../config.js';
import { createPool } from '../db/pool.js';
import { closeRedis, connectRedis } from '../redis/connect.js';
import { createEngine } from './index.js';
import { upgradeRedisLayout, upgradeRevocations } from './upgrade-layout.js';

try {
  const config = loadConfig();
  const redis = connectRedis(config, 'laneq-upgrade');
  const pool = createPool(config.DATABASE_URL, 1, () => undefined);
  try {
    const engine = createEngine(config, redis);
    const { clients, requests } = await upgradeRedisLayout(engine);
    const sessions = await upgradeRevocations(engine, pool);
    console.log(`rewrote ${requests} requests of ${clients} clients; carried over ${sessions} logged-out sessions`);
  } finally {
    await closeRedis(redis);
    await pool.end();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `upgrade failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
