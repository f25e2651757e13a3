import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call, freshUsername } from '../helpers/http.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

describe('register → login → me → refresh → logout', () => {
  it('walks the whole session life cycle', async () => {
    const username = freshUsername();
    const registered = await call(server.app, 'POST', '/api/auth/register', { body: { username, password: 'long enough' } });
    expect(registered.status).toBe(201);
    expect(registered.body).toEqual({ id: expect.any(String), username });

    const login = await call<{ accessToken: string; refreshToken: string; tokenType: string; expiresIn: number }>(
      server.app, 'POST', '/api/auth/login', { body: { username: username.toUpperCase(), password: 'long enough' } },
    );
    expect(login.status).toBe(200);
    expect(login.body.tokenType).toBe('Bearer');
    expect(login.body.expiresIn).toBe(900);

    const me = await call(server.app, 'GET', '/api/auth/me', { token: login.body.accessToken });
    expect(me.body).toEqual({ id: registered.body.id, username, role: 'user' });

    const refreshed = await call<{ accessToken: string; refreshToken: string }>(server.app, 'POST', '/api/auth/refresh', {
      body: { refreshToken: login.body.refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refreshToken).not.toBe(login.body.refreshToken);

    const logout = await call(server.app, 'POST', '/api/auth/logout', { token: refreshed.body.accessToken });
    expect(logout.status).toBe(204);
    expect((await call(server.app, 'GET', '/api/auth/me', { token: refreshed.body.accessToken })).status).toBe(401);
    expect((await call(server.app, 'GET', '/api/auth/me', { token: login.body.accessToken })).status).toBe(401);
    const afterLogout = await call(server.app, 'POST', '/api/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } });
    expect(afterLogout.status).toBe(401);
  });
});
