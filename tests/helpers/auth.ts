/** Shortcuts for the auth API, so each test states only what it is about. */
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { call, freshUsername } from './http.js';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export const PASSWORD = 'correct horse battery';

/** Registers a fresh user and returns its id and username; fails the test if that does not work. */
export async function register(
  app: FastifyInstance,
  username = freshUsername(),
  password = PASSWORD,
  ip?: string,
): Promise<{ id: string; username: string }> {
  const response = await call<{ id: string; username: string }>(app, 'POST', '/api/auth/register', {
    body: { username, password },
    ip,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

/** Logs in and returns the token pair; fails the test if the login does not succeed. */
export async function login(app: FastifyInstance, username: string, password = PASSWORD, ip?: string): Promise<TokenPair> {
  const response = await call<TokenPair>(app, 'POST', '/api/auth/login', { body: { username, password }, ip });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** A new user with one logged-in session. */
export async function signedInUser(app: FastifyInstance): Promise<{ id: string; username: string; tokens: TokenPair }> {
  const user = await register(app);
  return { ...user, tokens: await login(app, user.username) };
}

/** The status and error code of GET /api/auth/me with the given Authorization header (or none). */
export async function meWith(app: FastifyInstance, authorization?: string): Promise<{ status: number; code?: string }> {
  const response = await call<ErrorBody>(app, 'GET', '/api/auth/me', {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: response.status, code: response.body?.error?.code };
}
