import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { AppError } from '../errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Fastify's JSON parser quietly replaces invalid UTF-8 with U+FFFD, so a corrupted password
 * would be accepted and stored. This parser refuses such bodies, and refuses every content type
 * other than JSON (text/plain included) with 415.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new AppError('invalid_encoding'), undefined);
      return;
    }
    if (text.trim() === '') {
      // An empty body is no body: routes that expect one answer with a validation error.
      done(null, undefined);
      return;
    }
    try {
      // secure-json-parse refuses `__proto__` keys (prototype pollution) at near JSON.parse speed.
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'ignore' }));
    } catch {
      done(new AppError('invalid_json'), undefined);
    }
  });
}
