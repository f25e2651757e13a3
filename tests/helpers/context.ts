/**
 * Test isolation: every test file gets its own PostgreSQL database and Redis key prefix, so files
 * run in parallel against the one shared Redis and PostgreSQL without touching each other.
 * Nothing here flushes Redis: cleanup deletes only this file's own keys.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** A configuration for one test file: its own database and key prefix, port 0, quiet logs. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  const name = uniqueName('laneq_t');
  return loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    REDIS_URL,
    DATABASE_URL: `${POSTGRES_URL}/${name}`,
    KEY_PREFIX: name.replace(/_/g, '-').slice(0, 32),
    JWT_SECRET: randomBytes(32).toString('hex'),
    ...overrides,
  });
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function deleteKeys(keyPrefix: string, redisUrl = REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The HTTP API of a server started with a role that serves it. */
export function apiOf(server: RunningServer): FastifyInstance {
  if (!server.app) throw new Error('this server runs no HTTP API (ROLE=worker)');
  return server.app;
}

export interface TestServer extends RunningServer {
  app: FastifyInstance;
  config: Config;
  /** Stops the server and removes its database and keys. */
  stop(): Promise<void>;
}

export async function startTestServer(overrides: Record<string, string> = {}): Promise<TestServer> {
  const config = testConfig(overrides);
  const server = await startServer(config, createLogger(config.LOG_LEVEL));
  return {
    ...server,
    app: apiOf(server),
    config,
    stop: async () => {
      // The database and keys go even when closing fails or is slow, so no test run leaves
      // anything behind; a close that does not finish still fails the test.
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('server.close() took more than 20 s')), 20_000);
      });
      try {
        await Promise.race([server.close(), slow]);
      } finally {
        clearTimeout(timer);
        await Promise.all([dropDatabase(config.DATABASE_URL), deleteKeys(config.KEY_PREFIX)]);
      }
    },
  };
}
