/** Shortcuts for the queue API tests, so each test states only what it is about. */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { expect } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import { UserStore } from '../../src/auth/users.js';
import { login, PASSWORD, signedInUser } from './auth.js';
import { eventually } from './engine.js';
import { call, freshUsername, type JsonResponse } from './http.js';

export interface RequestView {
  id: string;
  type: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  attempts: number;
  maxAttempts: number;
  payload: unknown;
  result?: unknown;
  error?: { message: string; code?: string };
  enqueuedAt: string;
  startedAt?: string;
  finishedAt?: string;
  position?: number;
  history: { attempt: number; startedAt: string; finishedAt: string; error: { message: string; code?: string } }[];
  clientId?: string;
}

export interface Accepted {
  id: string;
  status: RequestView['status'];
  position?: number;
}

export interface ErrorAnswer {
  error: { code: string; message: string; details?: unknown };
}

/** A signed-in user: its id (the client id) and access token. */
export interface Client {
  id: string;
  token: string;
}

export async function newClient(app: FastifyInstance): Promise<Client> {
  const user = await signedInUser(app);
  return { id: user.id, token: user.tokens.accessToken };
}

/** An administrator, created as admin-cli does, signed in. */
export async function newAdmin(app: FastifyInstance, pool: pg.Pool): Promise<Client> {
  const username = freshUsername('admin');
  const user = await new UserStore(pool).upsertAdmin(username, await hashPassword(PASSWORD));
  const tokens = await login(app, username);
  return { id: user.id, token: tokens.accessToken };
}

export function enqueue<T = Accepted & ErrorAnswer>(app: FastifyInstance, client: Client, body: unknown): Promise<JsonResponse<T>> {
  return call<T>(app, 'POST', '/api/queue/enqueue', { token: client.token, body });
}

/** Enqueues one request and fails the test unless it is accepted. */
export async function enqueued(app: FastifyInstance, client: Client, body: Record<string, unknown>): Promise<Accepted> {
  const response = await enqueue<Accepted>(app, client, body);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body;
}

export function getRequest(app: FastifyInstance, client: Client, id: string): Promise<JsonResponse<RequestView & ErrorAnswer>> {
  return call<RequestView & ErrorAnswer>(app, 'GET', `/api/queue/requests/${encodeURIComponent(id)}`, { token: client.token });
}

/** Polls GET /requests/:id until the request has one of `statuses`; returns it then. */
export async function waitForStatus(
  app: FastifyInstance,
  client: Client,
  id: string,
  statuses: RequestView['status'][],
  timeoutMs = 20_000,
): Promise<RequestView> {
  let last: RequestView | undefined;
  await eventually(async () => {
    const response = await getRequest(app, client, id);
    last = response.body;
    return response.status === 200 && statuses.includes(response.body.status);
  }, timeoutMs);
  return last as RequestView;
}

export function dequeue(app: FastifyInstance, client: Client, query = ''): Promise<JsonResponse<RequestView | undefined>> {
  return call<RequestView | undefined>(app, 'GET', `/api/queue/dequeue${query}`, { token: client.token });
}

/** Every page of GET /api/queue/requests, followed through nextCursor. */
export async function listAll(app: FastifyInstance, client: Client, query: Record<string, string> = {}): Promise<RequestView[]> {
  const all: RequestView[] = [];
  let cursor: string | undefined;
  do {
    const params = new URLSearchParams({ ...query, ...(cursor ? { cursor } : {}) });
    const page = await call<{ requests: RequestView[]; nextCursor?: string }>(app, 'GET', `/api/queue/requests?${params}`, {
      token: client.token,
    });
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    all.push(...page.body.requests);
    cursor = page.body.nextCursor;
  } while (cursor);
  return all;
}

/** Whether PostgreSQL's archive holds the request with this status. */
export async function archivedStatus(pool: pg.Pool, id: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ status: string }>('SELECT status FROM requests WHERE id = $1', [id]);
  return rows[0]?.status;
}
