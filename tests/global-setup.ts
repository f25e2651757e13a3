import pg from 'pg';
import { Redis } from 'ioredis';
import { POSTGRES_URL, REDIS_URL } from './helpers/context.js';

/** Fails fast, with a readable message, when the services the tests need are not running. */
export default async function assertServicesAnswer(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${REDIS_URL} does not answer (${(error as Error).message}); run .ci/run or start it.`);
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: `${POSTGRES_URL}/postgres` });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(`PostgreSQL at ${POSTGRES_URL} does not answer (${(error as Error).message}); run .ci/run or start it.`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
