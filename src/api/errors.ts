import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

/** Fastify's own error codes, mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, AppError['code']> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
};

const BACKEND_DOWN = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|Connection terminated|connect to the database|Stream isn't writeable|MaxRetriesPerRequest|timeout exceeded when trying to connect|the database system is (starting up|shutting down)|terminating connection|OOM command not allowed|LOADING/i;

/** Errors from Redis or PostgreSQL being out of reach: the client should retry, not give up. */
export function isBackendUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = (error as { code?: string }).code ?? '';
  return BACKEND_DOWN.test(`${code} ${error.message}`) || code.startsWith('57P') || code.startsWith('08');
}

/**
 * Where a validation issue is, as `body.username` or `body.requests[3].type`: the JSON pointer of
 * the issue (plus the property it names), array indexes in brackets.
 */
function fieldName(context: string, instancePath: string | undefined, property?: string): string {
  const segments = (instancePath ?? '').split('/').slice(1);
  if (property !== undefined) segments.push(property);
  return segments.reduce((field, segment) => {
    const name = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^(0|[1-9][0-9]*)$/.test(name) ? `${field}[${name}]` : `${field}.${name}`;
  }, context);
}

/** Turns any error into the catalogue's body; unexpected errors are logged and hidden. */
export function toAppError(error: FastifyError | Error, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'body';
    const details = fastifyError.validation.map((issue) => {
      if (issue.keyword === 'additionalProperties') {
        return { field: fieldName(context, issue.instancePath, String(issue.params.additionalProperty)), message: 'is not allowed' };
      }
      if (issue.keyword === 'required') {
        return { field: fieldName(context, issue.instancePath, String(issue.params.missingProperty)), message: 'is required' };
      }
      return { field: fieldName(context, issue.instancePath), message: issue.message ?? 'is invalid' };
    });
    return new AppError('validation_failed', undefined, details);
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new AppError(mapped);
  if (isBackendUnavailable(error)) {
    request.log.warn({ err: error }, 'backing service unavailable');
    return new AppError('service_unavailable');
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new AppError('bad_request', fastifyError.message);
  }
  request.log.error({ err: error }, 'unexpected error');
  return new AppError('internal');
}

/**
 * Errors Fastify raises while routing, before any route or error handler runs: a path that is not
 * valid percent-encoding (400), and a path parameter longer than the router's maxParamLength,
 * which can only be a malformed request id (404, like any other malformed id).
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendError(reply, new AppError('not_found', 'No such request.'));
  return sendError(reply, new AppError('bad_request', error.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid.' : undefined));
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send(error.toBody());
}

const CLIENT_ERRORS: Record<string, AppError['code']> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
};

/**
 * Answers requests that Node's HTTP parser refused before Fastify saw them (headers over 16 KiB,
 * malformed HTTP, a client too slow to send its request) with the catalogue's body, and closes the
 * connection: after a parse error the rest of the stream cannot be trusted.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const appError = new AppError(CLIENT_ERRORS[error.code ?? ''] ?? 'bad_request');
  const body = JSON.stringify(appError.toBody());
  socket.end(
    `HTTP/1.1 ${appError.status} ${STATUS_CODES[appError.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
