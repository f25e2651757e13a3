/**
 * The error catalogue: every error laneq returns, with its stable machine-readable code and HTTP
 * status. docs/errors.md shows the same table and a test keeps the two in step. Codes never change
 * meaning once published; clients switch on them.
 */
export const ERROR_CATALOGUE = {
  validation_failed: { status: 400, message: 'The request does not match the expected shape.' },
  unknown_type: { status: 400, message: 'No handler runs requests of this type.' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_encoding: { status: 400, message: 'The request body is not valid UTF-8.' },
  bad_request: { status: 400, message: 'The request is malformed.' },
  unauthorized: { status: 401, message: 'A valid Bearer access token is required.' },
  invalid_credentials: { status: 401, message: 'Unknown username or wrong password.' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is invalid, expired or revoked.' },
  refresh_token_reused: {
    status: 401,
    message: 'The refresh token was already used; the whole session has been revoked.',
  },
  forbidden: { status: 403, message: 'This action needs another role.' },
  not_found: { status: 404, message: 'Not found.' },
  username_taken: { status: 409, message: 'That username is already registered.' },
  not_cancellable: { status: 409, message: 'The request has already started or finished.' },
  not_retryable: { status: 409, message: 'Only a dead-lettered request can be retried.' },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  queue_full: { status: 429, message: 'The queue holds as many pending requests as it may.' },
  rate_limited: { status: 429, message: 'Too many requests; retry after the delay in Retry-After.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal: { status: 500, message: 'An unexpected error occurred.' },
  service_unavailable: { status: 503, message: 'A backing service is unavailable; retry shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** An error meant for the client: its code decides the HTTP status, its message is safe to show. */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CATALOGUE[code].message,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_CATALOGUE[code].status;
  }

  toBody(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) },
    };
  }
}

/** 429 with Retry-After (whole seconds, at least 1) for a limit that frees up in `msBeforeNext`. */
export function rateLimited(msBeforeNext: number): AppError {
  const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new AppError('rate_limited', undefined, { retryAfterSeconds: seconds }, { 'retry-after': String(seconds) });
}
