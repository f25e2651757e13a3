import { randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, meWith, signedInUser } from '../helpers/auth.js';
import { startTestServer, type TestServer } from '../helpers/context.js';

let server: TestServer;
/** A real user, so a hand-signed token with correct claims can reach 200 on /me. */
let user: { id: string; username: string; accessToken: string };

beforeAll(async () => {
  server = await startTestServer();
  const signedIn = await signedInUser(server.app);
  user = { id: signedIn.id, username: signedIn.username, accessToken: signedIn.tokens.accessToken };
});
afterAll(async () => {
  await server.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The claims laneq puts in an access token, for the user above and a fresh session. */
function validClaims(): JWTPayload {
  return { sub: user.id, sid: randomUUID(), jti: randomUUID(), role: 'user', iss: server.config.JWT_ISSUER, iat: now(), exp: now() + 900 };
}

/** Signs claims with HS256, by default with the server's own secret. */
function sign(claims: JWTPayload, secret = server.config.JWT_SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

function without(claims: JWTPayload, name: string): JWTPayload {
  const copy = { ...claims };
  delete copy[name];
  return copy;
}

describe('GET /api/auth/me refuses bad credentials with 401 unauthorized', () => {
  it('accepts a hand-signed token with correct claims (so the refusals below are not vacuous)', async () => {
    const response = await meWith(server.app, `Bearer ${await sign(validClaims())}`);
    expect(response.status).toBe(200);
  });

  it('accepts the access token from login', async () => {
    expect((await meWith(server.app, `Bearer ${user.accessToken}`)).status).toBe(200);
  });

  const cases: [string, () => Promise<string | undefined>][] = [
    ['no Authorization header', async () => undefined],
    ['a Basic header', async () => 'Basic dXNlcjpwYXNzd29yZA=='],
    ['a valid token under another scheme', async () => `Token ${user.accessToken}`],
    ['a bare token without a scheme', async () => user.accessToken],
    ['garbage', async () => 'Bearer not-a-token'],
    ['a token with a tampered payload', async () => {
      const [header, , signature] = user.accessToken.split('.');
      const tampered = { ...decodeJwt(user.accessToken), role: 'admin' };
      return `Bearer ${header}.${base64url(tampered)}.${signature}`;
    }],
    ['a token signed with another secret', async () => `Bearer ${await sign(validClaims(), randomBytes(32).toString('hex'))}`],
    ['an alg:none token', async () => `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(validClaims())}.`],
    ['an expired token', async () => `Bearer ${await sign({ ...validClaims(), iat: now() - 1000, exp: now() - 100 })}`],
    ['a token of another issuer', async () => `Bearer ${await sign({ ...validClaims(), iss: 'someone-else' })}`],
    ['a token without issuer', async () => `Bearer ${await sign(without(validClaims(), 'iss'))}`],
    ['a token without the sid claim', async () => `Bearer ${await sign(without(validClaims(), 'sid'))}`],
    ['a token without the role claim', async () => `Bearer ${await sign(without(validClaims(), 'role'))}`],
  ];

  it.each(cases)('%s', async (_name, authorization) => {
    expect(await meWith(server.app, await authorization())).toEqual({ status: 401, code: 'unauthorized' });
  });

  it('refuses a token it accepted before (verified tokens are remembered) from the second it expires', async () => {
    const exp = now() + 2;
    const token = await sign({ ...validClaims(), exp });
    expect((await meWith(server.app, `Bearer ${token}`)).status).toBe(200);
    expect((await meWith(server.app, `Bearer ${token}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    expect(await meWith(server.app, `Bearer ${token}`)).toEqual({ status: 401, code: 'unauthorized' });
  });
});

describe('access token claims', () => {
  it('carry sub, sid, jti, iat, exp and iss, and live exactly ACCESS_TOKEN_TTL_S', () => {
    const claims = decodeJwt(user.accessToken);
    expect(claims).toMatchObject({
      sub: user.id,
      sid: expect.any(String),
      jti: expect.any(String),
      role: 'user',
      iss: server.config.JWT_ISSUER,
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
  });

  it('name a new session (sid) and a new token (jti) at every login of the same user', async () => {
    const a = decodeJwt((await login(server.app, user.username)).accessToken);
    const b = decodeJwt((await login(server.app, user.username)).accessToken);
    expect(a.jti).not.toBe(b.jti);
    expect(a.sid).not.toBe(b.sid);
  });
});
