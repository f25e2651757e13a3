/**
 * laneq's typed client: `import { createClient } from 'laneq/client'`. Runs in Node ≥ 20 and in
 * browsers: it uses only fetch, streams, URL and timers, and imports nothing of the server at
 * runtime (its types come from the server's schemas, as type-only imports).
 */
import { LaneqError } from './errors.js';
import { streamEvents, type EventsOptions } from './events.js';
import { Http } from './http.js';
import { TokenStore, tokensFrom, type SharedTokens, type Tokens, type TokensListener } from './tokens.js';
import type {
  Accepted,
  Cancelled,
  DeadLetterPage,
  DeadLetterQuery,
  FetchLike,
  ListQuery,
  NewRequest,
  OverviewQuery,
  PublicUser,
  QueueEvent,
  QueueOverview,
  QueueStats,
  RegisteredUser,
  RequestPage,
  RequestTypes,
  RequestView,
  Requeued,
  TokenPair,
} from './types.js';
import { waitForFinal, type WaitOptions } from './wait.js';

export { LaneqError } from './errors.js';
export type { ClientErrorCode, LaneqErrorCode } from './errors.js';
export type { EventsOptions } from './events.js';
export type { SharedTokens, Tokens, TokensListener } from './tokens.js';
export type * from './types.js';
export { FINAL_STATUSES } from './types.js';
export type { WaitOptions } from './wait.js';

export interface ClientOptions {
  /** Where the API answers, e.g. `https://laneq.example.com`. */
  baseUrl: string;
  /** A fetch to use instead of the global one (tests, proxies, instrumentation). */
  fetch?: FetchLike;
  /** Told whenever the tokens change (login, refresh, logout, a refused refresh: undefined). */
  onTokens?: TokensListener;
  /** Set when other processes hold the same stored session: renewals then never race theirs. */
  sharedTokens?: SharedTokens;
}

export interface LaneqClient {
  register(username: string, password: string): Promise<RegisteredUser>;
  /** Signs in; the tokens are kept in memory and renewed transparently. */
  login(username: string, password: string): Promise<Tokens>;
  /** Revokes the session on the server and forgets the tokens. */
  logout(): Promise<void>;
  me(): Promise<PublicUser>;
  enqueue(request: NewRequest): Promise<Accepted>;
  /** A batch of up to 1,000: all or none, queued in array order. */
  enqueue(requests: NewRequest[]): Promise<Accepted[]>;
  get(id: string): Promise<RequestView>;
  list(query?: ListQuery): Promise<RequestPage>;
  cancel(id: string): Promise<Cancelled>;
  /** The oldest finished request not yet dequeued, waiting up to `wait` seconds (0–30); undefined when none. */
  dequeue(options?: { wait?: number }): Promise<RequestView | undefined>;
  stats(): Promise<QueueStats>;
  types(): Promise<RequestTypes>;
  /** My requests' state changes, live; reconnects (resuming) by itself until `signal` aborts. */
  events(options?: EventsOptions): AsyncGenerator<QueueEvent, void, undefined>;
  /** The request once it has succeeded, failed or been cancelled. */
  waitFor(id: string, options?: WaitOptions): Promise<RequestView>;
  /** The tokens held now (a copy), e.g. to persist them. */
  getTokens(): Tokens | undefined;
  /** Replaces the tokens held (e.g. restored from storage; undefined signs out locally). */
  setTokens(tokens: Tokens | undefined): void;
  /** Operator calls: role `admin` only (403 `forbidden` for anyone else). */
  admin: LaneqAdmin;
}

export interface LaneqAdmin {
  /** Totals over all shards and the `top` clients with the deepest queues. */
  overview(query?: OverviewQuery): Promise<QueueOverview>;
  /** Dead-lettered requests of every client, newest first. */
  deadLetters(query?: DeadLetterQuery): Promise<DeadLetterPage>;
  /** Queues a dead letter again at its client's tail. */
  retry(id: string): Promise<Requeued>;
}

/** Narrows an answer the server always sends (its body is never empty on these routes). */
function present<T>(value: T | undefined): T {
  if (value === undefined) throw new LaneqError(0, 'unexpected_response', 'The answer is empty.');
  return value;
}

export function createClient(options: ClientOptions): LaneqClient {
  // Browsers refuse a fetch called on anything but the global object, so call it unbound.
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  const exchange = async (refreshToken: string): Promise<TokenPair> =>
    present(await http.json<TokenPair>({ method: 'POST', path: 'api/auth/refresh', body: { refreshToken } }));
  const tokens = new TokenStore(exchange, options.onTokens, options.sharedTokens);
  const http = new Http(baseUrl, fetchFn, tokens);
  const requestPath = (id: string) => `api/queue/requests/${encodeURIComponent(id)}`;
  const get = async (id: string, signal?: AbortSignal) =>
    present(await http.json<RequestView>({ path: requestPath(id), auth: true, ...(signal ? { signal } : {}) }));

  async function enqueue(request: NewRequest): Promise<Accepted>;
  async function enqueue(requests: NewRequest[]): Promise<Accepted[]>;
  async function enqueue(input: NewRequest | NewRequest[]): Promise<Accepted | Accepted[]> {
    const path = 'api/queue/enqueue';
    if (!Array.isArray(input)) return present(await http.json<Accepted>({ method: 'POST', path, auth: true, body: input }));
    const answer = present(await http.json<{ requests: Accepted[] }>({ method: 'POST', path, auth: true, body: { requests: input } }));
    return answer.requests;
  }

  return {
    register: async (username, password) =>
      present(await http.json<RegisteredUser>({ method: 'POST', path: 'api/auth/register', body: { username, password } })),
    login: async (username, password) => {
      const pair = present(await http.json<TokenPair>({ method: 'POST', path: 'api/auth/login', body: { username, password } }));
      tokens.set(tokensFrom(pair));
      return present(tokens.get());
    },
    logout: async () => {
      try {
        if (tokens.get()) await http.send({ method: 'POST', path: 'api/auth/logout', auth: true });
      } catch (error) {
        // A session the server no longer knows is as logged out as it gets.
        if (!(error instanceof LaneqError && error.status === 401)) throw error;
      } finally {
        tokens.set(undefined);
      }
    },
    me: async () => present(await http.json<PublicUser>({ path: 'api/auth/me', auth: true })),
    enqueue,
    get: (id) => get(id),
    list: async (query = {}) =>
      present(await http.json<RequestPage>({ path: 'api/queue/requests', auth: true, query: { ...query } })),
    cancel: async (id) => present(await http.json<Cancelled>({ method: 'DELETE', path: requestPath(id), auth: true })),
    dequeue: async ({ wait } = {}) => http.json<RequestView>({ path: 'api/queue/dequeue', auth: true, query: { wait } }),
    stats: async () => present(await http.json<QueueStats>({ path: 'api/queue', auth: true })),
    types: async () => present(await http.json<RequestTypes>({ path: 'api/queue/types', auth: true })),
    events: (eventOptions) => streamEvents(http, eventOptions),
    waitFor: (id, waitOptions) => waitForFinal(http, get, id, waitOptions),
    getTokens: () => tokens.get(),
    setTokens: (next) => tokens.set(next),
    admin: {
      overview: async (query = {}) =>
        present(await http.json<QueueOverview>({ path: 'api/admin/queues', auth: true, query: { ...query } })),
      deadLetters: async (query = {}) =>
        present(await http.json<DeadLetterPage>({ path: 'api/admin/dead-letters', auth: true, query: { ...query } })),
      retry: async (id) =>
        present(await http.json<Requeued>({ method: 'POST', path: `api/admin/dead-letters/${encodeURIComponent(id)}/retry`, auth: true })),
    },
  };
}
