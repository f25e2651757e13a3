import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, register, type ErrorBody } from '../helpers/auth.js';
import { apiOf, startTestServer, testConfig, type TestServer } from '../helpers/context.js';
import { call, freshUsername, type JsonResponse } from '../helpers/http.js';
import { createLogger } from '../../src/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';

const LIMITS = { RATE_LIMIT_AUTH_PER_IP: '5', RATE_LIMIT_LOGIN_FAILURES: '3' };

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(LIMITS);
});
afterAll(async () => {
  await server.stop();
});

/** Each test takes its own client IPs, so the per-IP counters of one test never touch another's. */
let lastIp = 0;
const freshIp = () => `10.0.${Math.floor(++lastIp / 250)}.${(lastIp % 250) + 1}`;

const registerFrom = (app: FastifyInstance, ip: string, username = freshUsername()) =>
  call<ErrorBody>(app, 'POST', '/api/auth/register', { body: { username, password: PASSWORD }, ip });
const loginFrom = (app: FastifyInstance, ip: string, username: string, password = PASSWORD) =>
  call<ErrorBody>(app, 'POST', '/api/auth/login', { body: { username, password }, ip });

function expectRateLimited(response: JsonResponse<ErrorBody>): void {
  expect(response.status).toBe(429);
  expect(response.body.error.code).toBe('rate_limited');
  const retryAfter = String(response.headers['retry-after']);
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
}

describe('per-IP limit on register and login (RATE_LIMIT_AUTH_PER_IP=5)', () => {
  it('answers the 6th register from one IP with 429 and Retry-After, while another IP gets through', async () => {
    const ip = freshIp();
    for (let i = 1; i <= 5; i += 1) expect((await registerFrom(server.app, ip)).status, `call ${i}`).toBe(201);
    expectRateLimited(await registerFrom(server.app, ip));
    expect((await registerFrom(server.app, freshIp())).status).toBe(201);
  });

  it('counts register and login calls together', async () => {
    const ip = freshIp();
    const { username } = await register(server.app, freshUsername(), PASSWORD, ip);
    for (let i = 2; i <= 5; i += 1) expect((await loginFrom(server.app, ip, username)).status, `call ${i}`).toBe(200);
    expectRateLimited(await loginFrom(server.app, ip, username));
    expect((await loginFrom(server.app, freshIp(), username)).status).toBe(200);
  });

  it('is shared by two API instances using the same Redis and KEY_PREFIX', async () => {
    const second = await startSecondInstance(server);
    try {
      const ip = freshIp();
      // 3 calls on the first instance and 2 on the second use up the 5 allowed...
      for (const app of [server.app, server.app, server.app, apiOf(second), apiOf(second)]) {
        expect((await registerFrom(app, ip)).status).toBe(201);
      }
      // ...so both instances refuse the 6th.
      expectRateLimited(await registerFrom(apiOf(second), ip));
      expectRateLimited(await registerFrom(server.app, ip));
    } finally {
      await second.close(); // not stop(): the database and keys belong to the first server
    }
  });
});

describe('failed-login limit per username (RATE_LIMIT_LOGIN_FAILURES=3)', () => {
  it('after 3 wrong passwords refuses even the right one, from any IP, for that username only', async () => {
    const victim = await register(server.app, freshUsername(), PASSWORD, freshIp());
    const bystander = await register(server.app, freshUsername(), PASSWORD, freshIp());
    for (let i = 1; i <= 3; i += 1) {
      expect((await loginFrom(server.app, freshIp(), victim.username, 'wrong password')).status).toBe(401);
    }
    expectRateLimited(await loginFrom(server.app, freshIp(), victim.username));
    // The limit follows the username, not its spelling.
    expectRateLimited(await loginFrom(server.app, freshIp(), victim.username.toUpperCase()));
    expect((await loginFrom(server.app, freshIp(), bystander.username)).status).toBe(200);
  });

  it('is reset by a successful login before the limit', async () => {
    const { username } = await register(server.app, freshUsername(), PASSWORD, freshIp());
    const wrong = () => loginFrom(server.app, freshIp(), username, 'wrong password');
    for (let i = 1; i <= 2; i += 1) expect((await wrong()).status).toBe(401);
    expect((await loginFrom(server.app, freshIp(), username)).status).toBe(200);
    // Without the reset these would be failures 3 and 4, and the next login would be refused.
    for (let i = 1; i <= 2; i += 1) expect((await wrong()).status).toBe(401);
    expect((await loginFrom(server.app, freshIp(), username)).status).toBe(200);
  });
});

/** A second API instance on the first one's database and Redis namespace, as in a real fleet. */
async function startSecondInstance(first: TestServer): Promise<RunningServer> {
  const config = testConfig({
    ...LIMITS,
    KEY_PREFIX: first.config.KEY_PREFIX,
    DATABASE_URL: first.config.DATABASE_URL,
    JWT_SECRET: first.config.JWT_SECRET,
  });
  return startServer(config, createLogger(config.LOG_LEVEL));
}
