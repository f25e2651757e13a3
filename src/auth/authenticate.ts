import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { AuthService } from './service.js';
import type { AccessClaims } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    claims: AccessClaims | null;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

/** The claims of an authenticated request; throws 401 when the request carries none. */
export function claimsOf(request: FastifyRequest): AccessClaims {
  if (!request.claims) throw new AppError('unauthorized');
  return request.claims;
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? BEARER.exec(header) : null;
  if (!match?.[1]) throw new AppError('unauthorized');
  return match[1];
}

/**
 * Adds `onRequest: app.requireAuth` for routes that need a Bearer token. A malformed header, a
 * bad or expired token and a logged-out session all answer 401.
 */
export function registerAuthentication(app: FastifyInstance, auth: AuthService): void {
  app.decorateRequest('claims', null);
  app.decorate('requireAuth', async (request: FastifyRequest) => {
    request.claims = await auth.authenticate(bearerToken(request));
  });
  // For routes whose Redis script checks the session's revocation itself (one round trip less).
  app.decorate('requireToken', async (request: FastifyRequest) => {
    request.claims = await auth.verifyAccessToken(bearerToken(request));
  });
  app.decorate('requireAdmin', async (request: FastifyRequest) => {
    if (claimsOf(request).role !== 'admin') throw new AppError('forbidden');
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    requireAuth: (request: FastifyRequest) => Promise<void>;
    requireToken: (request: FastifyRequest) => Promise<void>;
    requireAdmin: (request: FastifyRequest) => Promise<void>;
  }
}
