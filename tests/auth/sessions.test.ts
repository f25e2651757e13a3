import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, meWith, register, signedInUser, type ErrorBody, type TokenPair } from '../helpers/auth.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

const refresh = (refreshToken: string) =>
  call<TokenPair & ErrorBody>(server.app, 'POST', '/api/auth/refresh', { body: { refreshToken } });
const me = (accessToken: string) => meWith(server.app, `Bearer ${accessToken}`);
/** An enqueue checks the session inside its own Redis script, apart from every other route. */
const enqueue = async (accessToken: string) => {
  const response = await call<ErrorBody>(server.app, 'POST', '/api/queue/enqueue', { token: accessToken, body: { type: 'noop' } });
  return response.status === 202 ? { status: 202 } : { status: response.status, code: response.body.error.code };
};

describe('POST /api/auth/refresh', () => {
  it('rotates: answers a new pair and spends the old refresh token', async () => {
    const { tokens } = await signedInUser(server.app);
    const rotated = await refresh(tokens.refreshToken);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 900,
    });
    expect(rotated.body.refreshToken).not.toBe(tokens.refreshToken);
    expect(rotated.body.accessToken).not.toBe(tokens.accessToken);
    expect((await me(rotated.body.accessToken)).status).toBe(200);
    // The next rotation from the new token works: the chain continues.
    expect((await refresh(rotated.body.refreshToken)).status).toBe(200);
  });

  it('treats a spent token as theft: 401 refresh_token_reused and the whole family is revoked', async () => {
    const user = await register(server.app);
    const first = await login(server.app, user.username);
    const other = await login(server.app, user.username); // an independent session of the same user
    const second = (await refresh(first.refreshToken)).body;
    const newest = (await refresh(second.refreshToken)).body;
    expect((await me(newest.accessToken)).status).toBe(200);

    const replay = await refresh(first.refreshToken);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('refresh_token_reused');

    // Every token of the family stops, however new.
    const newestRefresh = await refresh(newest.refreshToken);
    expect(newestRefresh.status).toBe(401);
    expect(newestRefresh.body.error.code).toBe('invalid_refresh_token');
    for (const accessToken of [first.accessToken, second.accessToken, newest.accessToken]) {
      expect(await me(accessToken)).toEqual({ status: 401, code: 'unauthorized' });
      expect(await enqueue(accessToken)).toEqual({ status: 401, code: 'unauthorized' });
    }

    // The user's other session is a different family and keeps working.
    expect((await me(other.accessToken)).status).toBe(200);
    expect(await enqueue(other.accessToken)).toEqual({ status: 202 });
    expect((await refresh(other.refreshToken)).status).toBe(200);
  });

  it('answers an unknown token with 401 invalid_refresh_token', async () => {
    const response = await refresh('this-token-was-never-issued-by-laneq');
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('invalid_refresh_token');
  });

  it('refuses a body without refreshToken with 400 validation_failed', async () => {
    const response = await call<ErrorBody>(server.app, 'POST', '/api/auth/refresh', { body: {} });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
  });
});

describe('POST /api/auth/logout', () => {
  it('answers 204, then the access and refresh tokens of the session answer 401', async () => {
    const user = await register(server.app);
    const session = await login(server.app, user.username);
    const other = await login(server.app, user.username);

    const logout = await call(server.app, 'POST', '/api/auth/logout', { token: session.accessToken });
    expect(logout.status).toBe(204);
    expect(logout.body).toBeUndefined();

    expect(await me(session.accessToken)).toEqual({ status: 401, code: 'unauthorized' });
    expect(await enqueue(session.accessToken)).toEqual({ status: 401, code: 'unauthorized' });
    // Whatever is wrong with the body, a logged-out token hears 401 first, as on every other route
    // (the enqueue route checks revocation inside its Redis script, after the body checks).
    for (const body of [{ type: 'no_such_type' }, { type: 'sleep', payload: { ms: -1 } }, { nope: true }]) {
      const refused = await call<ErrorBody>(server.app, 'POST', '/api/queue/enqueue', { token: session.accessToken, body });
      expect({ body, status: refused.status, code: refused.body.error.code }).toEqual({ body, status: 401, code: 'unauthorized' });
    }
    for (const [contentType, payload] of [['application/json', '{broken'], ['text/plain', 'hello']]) {
      const refused = await server.app.inject({
        method: 'POST',
        url: '/api/queue/enqueue',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': contentType },
        payload,
      });
      expect({ contentType, status: refused.statusCode, body: refused.json() as unknown }).toMatchObject({
        contentType,
        status: 401,
        body: { error: { code: 'unauthorized' } },
      });
    }
    const refreshed = await refresh(session.refreshToken);
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.error.code).toBe('invalid_refresh_token');

    // Logging out one session leaves the user's other sessions alone.
    expect((await me(other.accessToken)).status).toBe(200);
    expect(await enqueue(other.accessToken)).toEqual({ status: 202 });
    expect((await refresh(other.refreshToken)).status).toBe(200);
    // The refused enqueue wrote nothing: the user has exactly the one request of the other session.
    const figures = (await call<Record<string, number>>(server.app, 'GET', '/api/queue', { token: other.accessToken })).body;
    expect((figures.pending ?? 0) + (figures.running ?? 0) + (figures.succeeded ?? 0)).toBe(1);
  });

  it('answers 401 unauthorized without a token', async () => {
    const response = await call<ErrorBody>(server.app, 'POST', '/api/auth/logout');
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
  });
});
