import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

/**
 * Where `npm run build` puts the web console (vite, src/web). Resolved from the package root so
 * that the compiled server (dist/api) and the sources run by tests (src/api) find the same files,
 * never src/web's unbuilt index.html.
 */
export const WEB_CONSOLE_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/**
 * The console only talks to this origin and loads nothing from elsewhere, so the policy can be
 * strict: no inline script or style, no framing (clickjacking), no plugin content.
 */
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Serves the built web console at `/`. Only the files present at start-up get routes (no
 * wildcard), so every other path, /api/* included, still reaches the JSON not-found handler.
 * Without a build (e.g. `npm test` on a fresh clone) `/` answers a 404 saying how to build it.
 */
export async function registerWebConsole(app: FastifyInstance, root = WEB_CONSOLE_DIR): Promise<void> {
  if (!existsSync(`${root}/index.html`)) {
    app.get('/', { schema: { hide: true } }, async () => {
      throw new AppError('not_found', 'The web console is not built: run `npm run build`.');
    });
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    decorateReply: false,
    // Vite names the assets by content hash: cache them for good, but always revalidate the page.
    setHeaders: (reply, path) => {
      const hashed = path.includes('/assets/');
      reply.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      reply.header('content-security-policy', CONSOLE_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
    },
    cacheControl: false,
  });
}
