import { LaneqError } from '../client/index.js';

/** The CLI's exit codes (docs/cli.md lists the same). */
export const EXIT = {
  ok: 0,
  /** The server refused the call or failed (any LaneqError not listed below). */
  refused: 1,
  /** Bad command line or bad local input (arguments, payload JSON, a --file line). */
  usage: 2,
  /** Not signed in: no credentials for this server, or the session is expired or revoked, or a wrong password. */
  auth: 3,
  /** The server could not be reached (or answered something that is not laneq). */
  network: 4,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

/** A failure the CLI explains in one line and maps to an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export function notSignedIn(url: string): CliError {
  return new CliError(`not signed in to ${url}; run \`laneq login <username>\` first`, EXIT.auth);
}

/** One readable line for a `validation_failed` answer's details ([{field, message}]). */
function describeDetails(details: unknown): string | undefined {
  if (!Array.isArray(details)) return undefined;
  const parts = details
    .map((item: unknown) => {
      const { field, message } = (item ?? {}) as { field?: unknown; message?: unknown };
      if (typeof message !== 'string') return undefined;
      return typeof field === 'string' ? `${field.replace(/^body\./, '')} ${message}` : message;
    })
    .filter((part): part is string => part !== undefined);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** The exit code and one-line message for any error a command let through. */
export function explain(error: unknown, url: string): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof LaneqError) {
    switch (error.code) {
      case 'network': {
        // fetch's own message ("fetch failed") says little; its cause names the system error.
        const cause = (error.cause as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
        const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : error.message;
        return { message: `cannot reach the laneq server at ${url} (${reason})`, exitCode: EXIT.network };
      }
      case 'unexpected_response':
        return { message: `${url} did not answer like a laneq server (${error.message})`, exitCode: EXIT.network };
      case 'invalid_credentials':
        return { message: 'wrong username or password', exitCode: EXIT.auth };
      case 'unauthorized':
      case 'invalid_refresh_token':
      case 'refresh_token_reused':
        return { message: `your session with ${url} has ended (${error.message}); run \`laneq login <username>\` again`, exitCode: EXIT.auth };
      case 'validation_failed': {
        const details = describeDetails(error.details);
        return { message: details ? `refused by the server: ${details}` : error.message, exitCode: EXIT.refused };
      }
      case 'rate_limited':
      case 'queue_full':
      case 'unknown_type':
      default:
        return { message: `${error.message.replace(/\.$/, '')} (${error.code})`, exitCode: EXIT.refused };
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: `unexpected error: ${message}`, exitCode: EXIT.refused };
}
