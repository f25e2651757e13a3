import { errorFromResponse, LaneqError } from './errors.js';
import type { TokenStore } from './tokens.js';
import type { FetchLike } from './types.js';

export interface CallOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the Bearer token (renewing it when needed, and once more after a 401 `unauthorized`). */
  auth?: boolean;
  signal?: AbortSignal;
}

/** Sends API calls: JSON in and out, laneq's errors as LaneqError, the session's token attached. */
export class Http {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchFn: FetchLike,
    private readonly tokens: TokenStore,
  ) {}

  /** The successful answer itself (its body unread), e.g. for streams. */
  async send(options: CallOptions): Promise<Response> {
    if (!options.auth) return this.checked(await this.once(options, undefined), options);
    const token = await this.tokens.accessToken();
    const response = await this.once(options, token);
    if (response.status !== 401) return this.checked(response, options);
    const error = await errorFromResponse(response);
    if (error.code !== 'unauthorized' || !(await this.tokens.renewAfterRejection(token))) throw error;
    return this.checked(await this.once(options, await this.tokens.accessToken()), options);
  }

  /** The parsed JSON answer; undefined for an empty one (204). */
  async json<T>(options: CallOptions): Promise<T | undefined> {
    const response = await this.send(options);
    const text = await response.text().catch((cause: unknown) => {
      throw this.networkError(cause, options);
    });
    if (response.status === 204 || text === '') return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LaneqError(response.status, 'unexpected_response', 'The answer is not JSON.', undefined, response.headers.get('x-request-id') ?? undefined);
    }
  }

  private async checked(response: Response, options: CallOptions): Promise<Response> {
    if (response.ok) return response;
    throw await errorFromResponse(response).catch((cause: unknown) => this.networkError(cause, options));
  }

  private async once(options: CallOptions, token: string | undefined): Promise<Response> {
    const url = new URL(options.path, this.baseUrl);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.fetchFn(url.toString(), {
        method: options.method ?? 'GET',
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (cause) {
      throw this.networkError(cause, options);
    }
  }

  /** A fetch failure; an abort by the caller's own signal stays the caller's abort reason. */
  private networkError(cause: unknown, options: CallOptions): unknown {
    if (options.signal?.aborted) return options.signal.reason ?? cause;
    if (cause instanceof LaneqError) return cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    return new LaneqError(0, 'network', `${options.method ?? 'GET'} ${options.path} failed: ${message}`, undefined, undefined, { cause });
  }
}
