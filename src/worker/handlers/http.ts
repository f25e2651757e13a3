import type { HandlerDefinition } from './types.js';
import { PermanentError } from './types.js';

interface HttpPayload {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Bounds that keep one request from tying up a worker or its memory. */
const MAX_RESPONSE_BYTES = 1_048_576;
const MAX_DURATION_MS = 30_000;
const MAX_REDIRECTS = 5;

/** `host` or `host:port` as written in HTTP_ALLOWED_HOSTS, compared case-insensitively. */
function isAllowed(url: URL, allowed: Set<string>): boolean {
  return allowed.has(url.hostname.toLowerCase()) || allowed.has(url.host.toLowerCase());
}

function parseUrl(text: string): URL {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    return url;
  } catch {
    throw new PermanentError(`not an http(s) URL: ${text}`, 'invalid_url');
  }
}

async function readBounded(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_RESPONSE_BYTES) throw new PermanentError(`response larger than ${MAX_RESPONSE_BYTES} bytes`, 'response_too_large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Calls an HTTP endpoint on an allow-listed host. Redirects are followed only within the same
 * host, by hand, so that a redirect cannot carry the request to a host nobody allowed.
 */
export function createHttpHandler(allowedHosts: string[]): HandlerDefinition<HttpPayload, HttpResult> {
  const allowed = new Set(allowedHosts.map((host) => host.trim().toLowerCase()).filter(Boolean));
  return {
    description: 'Calls an HTTP(S) URL on a host listed in HTTP_ALLOWED_HOSTS; returns {status, headers, body}.',
    schema: {
      type: 'object',
      properties: {
        method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] },
        url: { type: 'string', minLength: 1, maxLength: 4096 },
        headers: { type: 'object', additionalProperties: { type: 'string', maxLength: 8192 } },
        body: { type: 'string', maxLength: 1_048_576 },
      },
      required: ['method', 'url'],
      additionalProperties: false,
    },
    run: async (payload, { signal }) => {
      let url = parseUrl(payload.url);
      const bounded = AbortSignal.any([signal, AbortSignal.timeout(MAX_DURATION_MS)]);
      for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
        if (!isAllowed(url, allowed)) throw new PermanentError(`host ${url.host} is not in HTTP_ALLOWED_HOSTS`, 'host_not_allowed');
        const response = await fetch(url, {
          method: payload.method,
          headers: payload.headers,
          body: payload.body,
          redirect: 'manual',
          signal: bounded,
        });
        const location = response.headers.get('location');
        if (response.status >= 300 && response.status < 400 && location) {
          await response.body?.cancel();
          const next = new URL(location, url);
          if (next.host.toLowerCase() !== url.host.toLowerCase()) {
            throw new PermanentError(`redirect to another host (${next.host}) refused`, 'redirect_refused');
          }
          url = next;
          continue;
        }
        const body = await readBounded(response);
        return { status: response.status, headers: Object.fromEntries(response.headers), body };
      }
      throw new PermanentError(`more than ${MAX_REDIRECTS} redirects`, 'too_many_redirects');
    },
  };
}
