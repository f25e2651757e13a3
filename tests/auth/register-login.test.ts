import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, register, type ErrorBody, type TokenPair } from '../helpers/auth.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call, freshUsername } from '../helpers/http.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

const registerWith = (body: unknown) => call<ErrorBody>(server.app, 'POST', '/api/auth/register', { body });

/** The raw answer of a login, so two answers can be compared byte for byte. */
async function rawLogin(username: string, password: string): Promise<{ status: number; body: string }> {
  const response = await server.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ username, password }),
  });
  return { status: response.statusCode, body: response.body };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

describe('POST /api/auth/register', () => {
  it('creates a user and answers 201 {id, username}', async () => {
    const username = freshUsername();
    const response = await registerWith({ username, password: PASSWORD });
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username });
  });

  it('refuses a taken username with 409 username_taken, whatever its case', async () => {
    const { username } = await register(server.app, freshUsername('Case'));
    for (const duplicate of [username, username.toLowerCase(), username.toUpperCase()]) {
      const response = await registerWith({ username: duplicate, password: 'another password' });
      expect(response.status, duplicate).toBe(409);
      expect(response.body.error.code).toBe('username_taken');
    }
  });

  // Each case: a body, and the fields that `details` must name.
  const invalidBodies: [string, unknown, string[]][] = [
    ['a too-short username', { username: 'ab', password: PASSWORD }, ['body.username']],
    ['a too-long username', { username: 'a'.repeat(65), password: PASSWORD }, ['body.username']],
    ['a username with spaces', { username: 'bad name', password: PASSWORD }, ['body.username']],
    ['a username with punctuation', { username: 'bad!name', password: PASSWORD }, ['body.username']],
    ['a too-short password', { username: 'valid_name', password: 'x'.repeat(7) }, ['body.password']],
    ['a too-long password', { username: 'valid_name', password: 'x'.repeat(257) }, ['body.password']],
    ['a missing password', { username: 'valid_name' }, ['body.password']],
    ['missing fields', {}, ['body.username', 'body.password']],
    ['an extra field', { username: 'valid_name', password: PASSWORD, role: 'admin' }, ['body.role']],
    ['a number as password', { username: 'valid_name', password: 12345678 }, ['body.password']],
    ['a number as username', { username: 12345, password: PASSWORD }, ['body.username']],
    ['an array as password', { username: 'valid_name', password: [PASSWORD] }, ['body.password']],
  ];

  it.each(invalidBodies)('refuses %s with 400 validation_failed naming the field', async (_name, body, fields) => {
    const response = await registerWith(body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
    const named = (response.body.error.details as { field: string }[]).map((detail) => detail.field);
    for (const field of fields) expect(named).toContain(field);
  });

  it('stores nothing for an invalid body', async () => {
    const username = freshUsername();
    expect((await registerWith({ username, password: 'short' })).status).toBe(400);
    // Had the refused request created the user, this would be a 409.
    expect((await registerWith({ username, password: PASSWORD })).status).toBe(201);
  });
});

describe('POST /api/auth/login', () => {
  it('answers a token pair of the documented shape', async () => {
    const { username } = await register(server.app);
    const response = await call<TokenPair>(server.app, 'POST', '/api/auth/login', { body: { username, password: PASSWORD } });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      accessToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      refreshToken: expect.stringMatching(/^[\w-]{20,}$/),
      tokenType: 'Bearer',
      expiresIn: 900,
    });
  });

  it('accepts the username in another case', async () => {
    const { id, username } = await register(server.app, freshUsername('MixedCase'));
    const response = await call<TokenPair>(server.app, 'POST', '/api/auth/login', {
      body: { username: username.toLowerCase(), password: PASSWORD },
    });
    expect(response.status).toBe(200);
    const me = await call(server.app, 'GET', '/api/auth/me', { token: response.body.accessToken });
    expect(me.body).toEqual({ id, username, role: 'user' });
  });

  it('answers a wrong password and an unknown user with the same 401 invalid_credentials, byte for byte', async () => {
    const { username } = await register(server.app);
    const wrongPassword = await rawLogin(username, 'not the password');
    const unknownUser = await rawLogin(freshUsername('nobody'), 'not the password');
    expect(wrongPassword.status).toBe(401);
    expect(JSON.parse(wrongPassword.body).error.code).toBe('invalid_credentials');
    expect(unknownUser.status).toBe(401);
    expect(unknownUser.body).toBe(wrongPassword.body);
  });

  it('takes comparable time for an unknown user and a wrong password (both run argon2)', async () => {
    const { username } = await register(server.app);
    const timed = async (name: string) => {
      const started = performance.now();
      expect((await rawLogin(name, 'not the password')).status).toBe(401);
      return performance.now() - started;
    };
    // Fewer tries than RATE_LIMIT_LOGIN_FAILURES (10), so the username limit never interferes.
    const wrongPassword: number[] = [];
    const unknownUser: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      wrongPassword.push(await timed(username));
      unknownUser.push(await timed(freshUsername('nobody')));
    }
    // Generous on purpose: skipping argon2 for unknown users would make them ~100× faster.
    expect(median(unknownUser)).toBeGreaterThanOrEqual(0.3 * median(wrongPassword));
  });
});
