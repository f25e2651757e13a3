import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { text } from 'node:stream/consumers';
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/app.js';
import { createAuthService } from '../../src/auth/index.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createEngine } from '../../src/queue/index.js';
import { LiveEvents } from '../../src/queue/live-events.js';
import { closeRedis, connectRedis } from '../../src/redis/connect.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { HandlerRegistry } from '../../src/worker/handlers/registry.js';
import { login, PASSWORD, register, type ErrorBody, type TokenPair } from '../helpers/auth.js';
import { apiOf, deleteKeys, dropDatabase, startTestServer, testConfig, type TestServer } from '../helpers/context.js';
import { call, freshUsername } from '../helpers/http.js';
import {
  configEnv,
  finished,
  freePort,
  parseLogLine,
  runScript,
  spawnScript,
  STACK_TRACE,
  waitForLine,
} from '../helpers/process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** Starts a server on a config of its own, with the given logger; `stop` removes its database and keys. */
async function startOwnServer(overrides: Record<string, string>, logger: Logger): Promise<RunningServer & { stop(): Promise<void> }> {
  const config = testConfig(overrides);
  const running = await startServer(config, logger);
  return {
    ...running,
    stop: async () => {
      await running.close();
      await Promise.all([dropDatabase(config.DATABASE_URL), deleteKeys(config.KEY_PREFIX)]);
    },
  };
}

/** A pino destination that keeps every line in `lines`. */
function memoryStream(lines: string[]): DestinationStream {
  return { write: (line: string) => void lines.push(line) };
}

describe('x-request-id', () => {
  const requestIdFor = async (incoming?: string) => {
    const response = await call(server.app, 'GET', '/health/live', {
      headers: incoming === undefined ? {} : { 'x-request-id': incoming },
    });
    return response.headers['x-request-id'];
  };

  it('echoes a sane incoming id', async () => {
    expect(await requestIdFor('req-42.abc_DEF:7')).toBe('req-42.abc_DEF:7');
  });

  it('generates a uuid when none is sent', async () => {
    expect(await requestIdFor()).toMatch(UUID);
  });

  it.each([
    ['500 characters', 'a'.repeat(500)],
    ['spaces', 'has some spaces'],
    ['a tab', 'abc\tdef'],
    ['a non-ASCII character', 'caf\u00e9-1'],
    ['an empty value', ''],
  ])('replaces an id with %s by a generated uuid', async (_name, incoming) => {
    expect(await requestIdFor(incoming)).toMatch(UUID);
  });
});

describe('health', () => {
  it('/health/live answers 200', async () => {
    const response = await call(server.app, 'GET', '/health/live');
    expect(response).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('/health/ready answers 200 when Redis and PostgreSQL answer', async () => {
    const response = await call(server.app, 'GET', '/health/ready');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ready', checks: { redis: true, postgres: true } });
  });

  it('/health/ready answers 503 naming Redis when Redis does not answer', async () => {
    const lines: string[] = [];
    const broken = await buildApiWithRedisAt('redis://127.0.0.1:1', createLogger('silent', memoryStream(lines)));
    try {
      expect((await call(broken.app, 'GET', '/health/live')).status).toBe(200);
      const response = await call<ErrorBody>(broken.app, 'GET', '/health/ready');
      expect(response.status).toBe(503);
      expect(response.body.error).toMatchObject({
        code: 'service_unavailable',
        message: expect.stringMatching(/redis/),
        details: { redis: false, postgres: true },
      });
    } finally {
      await broken.close();
    }
    // A silent logger stays silent, even for a failing health check (whose route has its own logLevel).
    expect(lines).toEqual([]);
  });
});

/**
 * The HTTP API wired to a Redis at `redisUrl` and this file's healthy PostgreSQL. Built with
 * buildApi directly because startServer needs Redis at start-up (it checks the eviction policy).
 */
async function buildApiWithRedisAt(redisUrl: string, logger: Logger) {
  const config = testConfig({ REDIS_URL: redisUrl });
  const redis = connectRedis(config, 'laneq-test-broken');
  redis.on('error', () => undefined); // expected: nothing listens there
  const auth = createAuthService(config, redis, server.pool);
  const engine = createEngine(config, redis);
  const live = new LiveEvents(redis, redis, engine.keys); // never started: these tests open no stream
  const app = await buildApi({ config, logger, redis, pool: server.pool, auth, engine, registry: new HandlerRegistry(), live });
  return {
    app,
    close: async () => {
      await app.close();
      await closeRedis(redis); // the pool is the file's server's, closed by server.stop()
    },
  };
}

describe('logging', () => {
  it('never writes passwords or tokens, and every line is JSON; request lines carry the requestId', async () => {
    const lines: string[] = [];
    const logged = await startOwnServer({ LOG_LEVEL: 'trace' }, createLogger('trace', memoryStream(lines)));
    const secrets: string[] = [PASSWORD];
    const requestIds: string[] = [];
    try {
      const username = freshUsername();
      const send = async <T>(method: 'GET' | 'POST', url: string, options: Parameters<typeof call>[3]) => {
        const response = await call<T>(apiOf(logged), method, url, options);
        requestIds.push(String(response.headers['x-request-id']));
        return response;
      };
      await send('POST', '/api/auth/register', { body: { username, password: PASSWORD } });
      const tokens = (await send<TokenPair>('POST', '/api/auth/login', { body: { username, password: PASSWORD } })).body;
      await send('POST', '/api/auth/login', { body: { username, password: 'a wrong password' } });
      await send('GET', '/api/auth/me', { token: tokens.accessToken });
      const rotated = (await send<TokenPair>('POST', '/api/auth/refresh', { body: { refreshToken: tokens.refreshToken } })).body;
      await send('POST', '/api/auth/refresh', { body: { refreshToken: tokens.refreshToken } }); // a reuse
      await send('POST', '/api/auth/logout', { token: rotated.accessToken });
      secrets.push('a wrong password', tokens.accessToken, tokens.refreshToken, rotated.accessToken, rotated.refreshToken);
    } finally {
      await logged.stop();
    }

    const all = lines.join('');
    expect(all).toMatch(/request completed/); // the capture really holds the request log
    for (const secret of secrets) expect(all).not.toContain(secret);

    const records = all.trimEnd().split('\n').map((line) => parseLogLine(line));
    expect(records).not.toContain(undefined);
    const completed = records.filter(
      (record) => record?.route !== undefined && (record.msg === 'request completed' || record.msg === 'request failed'),
    );
    expect(completed.map((record) => record?.requestId)).toEqual(requestIds);
  });
});

describe('graceful shutdown of the real process', () => {
  it('on SIGTERM finishes the request in flight, then exits 0', async () => {
    const config = testConfig({ LOG_LEVEL: 'debug' });
    const port = await freePort();
    const child = spawnScript('src/main.ts', [], { ...configEnv(config), PORT: String(port) });
    const exit = finished(child);
    const logLine = (matches: (record: Record<string, unknown>) => boolean) =>
      waitForLine(child, (line) => {
        const record = parseLogLine(line);
        return record !== undefined && matches(record);
      });
    let hangUp = () => {};
    try {
      await logLine((record) => record.msg === 'laneq is up');
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      const username = freshUsername();
      const registered = await postJson(`${base}/api/auth/register`, { username, password: PASSWORD });
      expect(registered.status).toBe(201);

      // Send a login's headers and only half of its body: the request is certainly in flight.
      const body = JSON.stringify({ username, password: PASSWORD });
      const arrived = logLine((record) => record.msg === 'incoming request' && record.url === '/api/auth/login');
      const inFlight = startSlowRequest(port, '/api/auth/login', body);
      hangUp = inFlight.hangUp;
      await arrived;

      const shuttingDown = logLine((record) => record.msg === 'shutting down');
      child.kill('SIGTERM');
      await shuttingDown;
      inFlight.finish(); // the rest of the body, after the server began to shut down

      const response = await inFlight.response;
      expect(response.status).toBe(200);
      // Told to hang up, a keep-alive client cannot hold the shutting-down server open.
      expect(response.connection).toBe('close');
      expect(JSON.parse(response.body)).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String) });
      const result = await exit;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/"msg":"stopped"/);
    } finally {
      hangUp();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.all([dropDatabase(config.DATABASE_URL), deleteKeys(config.KEY_PREFIX)]);
    }
  });
});

describe('admin CLI', () => {
  const adminCli = (args: string[], stdin?: string) =>
    runScript('src/auth/admin-cli.ts', args, { env: configEnv(server.config), stdin });

  it('creates an administrator with a password from stdin', async () => {
    const username = freshUsername('admin');
    const password = 'a long admin password';
    const result = await adminCli([username, '--password-stdin'], `${password}\n`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`admin ${username}`);
    expect(result.stdout).not.toContain(password);

    const tokens = await login(server.app, username, password);
    const me = await call(server.app, 'GET', '/api/auth/me', { token: tokens.accessToken });
    expect(me.body).toMatchObject({ username, role: 'admin' });
  });

  it('promotes an existing user', async () => {
    const { id, username } = await register(server.app);
    const result = await adminCli([username, '--password-stdin'], 'the new admin password\n');
    expect(result.code, result.stderr).toBe(0);
    const tokens = await login(server.app, username, 'the new admin password');
    const me = await call(server.app, 'GET', '/api/auth/me', { token: tokens.accessToken });
    expect(me.body).toEqual({ id, username, role: 'admin' });
  });

  it.each([
    ['an invalid username', ['no spaces allowed', '--password-stdin']],
    ['no username', ['--password-stdin']],
  ])('refuses %s with exit code 2 and a message, without a stack trace', async (_name, args) => {
    const result = await adminCli(args, 'a long admin password\n');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/usage: .*admin:create/);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });
});

async function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/**
 * A POST whose body is sent in two parts: the first at once, the rest when `finish()` is called.
 * Its connection is keep-alive and never closed by the client, as a load balancer's would be.
 */
function startSlowRequest(port: number, path: string, body: string) {
  const agent = new Agent({ keepAlive: true, timeout: 0 });
  const request = httpRequest({
    agent,
    host: '127.0.0.1',
    port,
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const half = Math.floor(body.length / 2);
  request.write(body.slice(0, half));
  const response = (async () => {
    const [message] = (await once(request, 'response')) as [IncomingMessage];
    return { status: message.statusCode, connection: message.headers.connection, body: await text(message) };
  })();
  return { response, finish: () => request.end(body.slice(half)), hangUp: () => agent.destroy() };
}
