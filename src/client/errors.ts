import type { ErrorCode } from '../errors.js';

/**
 * Codes the SDK itself produces, besides the server's (docs/errors.md): `network` (fetch failed:
 * no answer), `unexpected_response` (an answer that is not laneq's JSON, e.g. a proxy's error
 * page), `timeout` (waitFor gave up).
 */
export type ClientErrorCode = 'network' | 'unexpected_response' | 'timeout';
// `string & {}` keeps codes a newer server may add usable without losing autocompletion.
export type LaneqErrorCode = ErrorCode | ClientErrorCode | (string & {});

/** Every failure of an SDK call: the server's `{error: {code, message, details?}}`, or a client-side code. */
export class LaneqError extends Error {
  override readonly name = 'LaneqError';

  constructor(
    /** HTTP status; 0 when there was no answer (network, timeout). */
    readonly status: number,
    readonly code: LaneqErrorCode,
    message: string,
    readonly details?: unknown,
    /** The answer's x-request-id, to quote when asking about a failure. */
    readonly requestId?: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options);
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /**
   * How long the server asked to wait before trying again (its Retry-After header, in seconds):
   * set on 429 rate_limited, and on 503 when the server said.
   */
  readonly retryAfterSeconds?: number;
}

/** Retry-After as whole seconds; laneq sends seconds, an HTTP date is read too. */
function retryAfterOf(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The error an unsuccessful answer stands for (consumes the body). */
export async function errorFromResponse(response: Response): Promise<LaneqError> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const retryAfterSeconds = retryAfterOf(response);
    return new LaneqError(response.status, error.code, error.message, error.details, requestId, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
  return new LaneqError(response.status, 'unexpected_response', `Unexpected answer: HTTP ${response.status}`, undefined, requestId);
}
