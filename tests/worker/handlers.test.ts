import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import { HandlerRegistry, loadHandlers } from '../../src/worker/handlers/registry.js';
import type { HandlerContext, HandlerDefinition } from '../../src/worker/handlers/types.js';

function context(signal = new AbortController().signal): HandlerContext {
  return { requestId: 'r1', clientId: 'c1', attempt: 1, signal, log: createLogger('silent') };
}

function validationError(run: () => void): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a validation error');
}

describe('handler registry', () => {
  const registry = new HandlerRegistry(builtinHandlers([]));

  it('lists the built-in types with their schemas', () => {
    expect(registry.types().map((entry) => entry.type).sort()).toEqual(['echo', 'http', 'noop', 'sleep']);
  });

  it('refuses an unknown type', () => {
    const error = validationError(() => registry.validatePayload('nope', {}));
    expect(error.code).toBe('unknown_type');
    expect(error.details).toEqual({ type: 'nope' });
  });

  it('checks payloads against the schema and names the failing field', () => {
    expect(() => registry.validatePayload('sleep', { ms: 10 })).not.toThrow();
    const tooLong = validationError(() => registry.validatePayload('sleep', { ms: 60_001 }));
    expect(tooLong.code).toBe('validation_failed');
    expect(tooLong.details).toEqual([{ field: 'payload.ms', message: expect.stringContaining('60000') }]);
    const extra = validationError(() => registry.validatePayload('sleep', { ms: 1, extra: true }));
    expect(extra.details).toEqual([{ field: 'payload.extra', message: 'is not allowed' }]);
    const coerced = validationError(() => registry.validatePayload('sleep', { ms: '10' }));
    expect(coerced.code).toBe('validation_failed');
  });

  it('closes object schemas that do not say otherwise, so unknown fields are refused', () => {
    const open: HandlerDefinition = { schema: { type: 'object', properties: { a: { type: 'number' } } }, run: () => null };
    const custom = new HandlerRegistry({ custom: open });
    expect(() => custom.validatePayload('custom', { a: 1 })).not.toThrow();
    expect(validationError(() => custom.validatePayload('custom', { a: 1, b: 2 })).code).toBe('validation_failed');
  });

  it('refuses a handler without a run function', () => {
    expect(() => new HandlerRegistry({ broken: { schema: {} } as unknown as HandlerDefinition })).toThrow(/run function/);
  });

  it('loads user handler modules named in HANDLERS', async () => {
    const loaded = await loadHandlers('./examples/handlers.mjs', '');
    expect(loaded.types().map((entry) => entry.type)).toContain('text.upper');
    expect(await loaded.get('text.upper')?.run({ text: 'abc' }, context())).toEqual({ text: 'ABC' });
    expect(validationError(() => loaded.validatePayload('text.upper', { text: 'x', more: 1 })).code).toBe('validation_failed');
  });

  it('fails to start on a module that exports no handlers', async () => {
    await expect(loadHandlers('./package.json', '')).rejects.toThrow();
  });
});

describe('built-in handlers', () => {
  const handlers = builtinHandlers([]);

  it('echo returns its payload and noop returns null', async () => {
    expect(await handlers.echo?.run({ a: [1, 2] }, context())).toEqual({ a: [1, 2] });
    expect(await handlers.noop?.run(null, context())).toBeNull();
  });

  it('sleep stops as soon as its signal aborts', async () => {
    const controller = new AbortController();
    const sleeping = handlers.sleep?.run({ ms: 60_000 }, context(controller.signal));
    controller.abort(new Error('timed out'));
    await expect(sleeping).rejects.toThrow();
  });
});

describe('the http handler', () => {
  let server: Server;
  let other: Server;
  let host: string;
  let otherHost: string;

  const listen = (target: Server) =>
    new Promise<string>((resolve) => target.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(target.address() as AddressInfo).port}`)));

  beforeAll(async () => {
    other = createServer((_request, response) => response.end('other host'));
    otherHost = await listen(other);
    server = createServer((request, response) => {
      if (request.url === '/hello') {
        response.setHeader('x-test', 'yes');
        response.end(`hello ${request.method}`);
      } else if (request.url === '/same') {
        response.writeHead(302, { location: '/hello' }).end();
      } else if (request.url === '/away') {
        response.writeHead(302, { location: `http://${otherHost}/` }).end();
      } else if (request.url === '/huge') {
        response.end(Buffer.alloc(2 * 1024 * 1024, 97));
      } else {
        response.writeHead(404).end();
      }
    });
    host = await listen(server);
  });
  afterAll(() => {
    server.close();
    other.close();
  });

  const run = (payload: unknown, allowed = [host]) => builtinHandlers(allowed).http?.run(payload, context());

  it('calls an allowed host and returns status, headers and body', async () => {
    const result = (await run({ method: 'GET', url: `http://${host}/hello` })) as { status: number; headers: Record<string, string>; body: string };
    expect(result.status).toBe(200);
    expect(result.body).toBe('hello GET');
    expect(result.headers['x-test']).toBe('yes');
  });

  it('refuses a host that is not allowed', async () => {
    await expect(run({ method: 'GET', url: `http://${otherHost}/` })).rejects.toMatchObject({ code: 'host_not_allowed' });
  });

  it('follows a redirect on the same host but refuses one to another host', async () => {
    expect(await run({ method: 'GET', url: `http://${host}/same` })).toMatchObject({ status: 200, body: 'hello GET' });
    await expect(run({ method: 'GET', url: `http://${host}/away` }, [host, otherHost])).rejects.toMatchObject({
      code: 'redirect_refused',
    });
  });

  it('bounds the response size', async () => {
    await expect(run({ method: 'GET', url: `http://${host}/huge` })).rejects.toMatchObject({ code: 'response_too_large' });
  });

  it('refuses a non-http URL', async () => {
    await expect(run({ method: 'GET', url: 'file:///etc/passwd' })).rejects.toMatchObject({ code: 'invalid_url' });
  });
});
