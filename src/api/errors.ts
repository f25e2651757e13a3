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

/** Turns any error into the catalogue's body; unexpected errors are logged and hidden. */
export function toAppError(error: FastifyError | Error, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const details = fastifyError.validation.map((issue) => ({
      field: `${fastifyError.validationContext ?? 'body'}${issue.instancePath || ''}`.replace(/\//g, '.'),
      message: issue.message ?? 'is invalid',
      ...(issue.keyword === 'additionalProperties'
        ? { field: `${fastifyError.validationContext ?? 'body'}.${String(issue.params.additionalProperty)}`, message: 'is not allowed' }
        : {}),
      ...(issue.keyword === 'required'
        ? { field: `${fastifyError.validationContext ?? 'body'}.${String(issue.params.missingProperty)}`, message: 'is required' }
        : {}),
    }));
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
