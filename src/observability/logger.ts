import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths that may hold secrets. pino removes them before a line is written, so a careless
 * `log.info({ body })` cannot leak a password or token.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'password',
  'refreshToken',
  'accessToken',
  'token',
  '*.password',
  '*.refreshToken',
  '*.accessToken',
  '*.token',
  'body.password',
  'body.refreshToken',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: 'laneq', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

export type { Logger };
