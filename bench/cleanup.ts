/** What a benchmark leaves behind, removed: its Redis keys and its PostgreSQL database. */
import { Redis } from 'ioredis';
import pg from 'pg';

/** Deletes every Redis key under `keyPrefix:` (SCAN + UNLINK) through the given connection. */
export async function unlinkKeysUnder(redis: Redis, keyPrefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * Deletes every Redis key under `keyPrefix:` (SCAN + UNLINK, on a connection of its own) and drops
 * `database` on the PostgreSQL server at `postgresUrl` (a URL without a database name).
 */
export async function cleanupBenchData(redisUrl: string, postgresUrl: string, keyPrefix: string, database: string): Promise<void> {
  const redis = new Redis(redisUrl);
  await unlinkKeysUnder(redis, keyPrefix);
  redis.disconnect();
  const admin = new pg.Client({ connectionString: `${postgresUrl}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  await admin.end();
}
