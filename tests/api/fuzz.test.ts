/**
 * Fuzzes every queue endpoint with seeded, definitely-malformed requests: enqueue bodies with one
 * defect each (wrong types, out-of-range limits, unknown fields and types, payloads that fail
 * their schema, nest too deep or are too large, batches with one bad element), bodies that are
 * not JSON, not UTF-8, too large or of another content type, bogus Authorization headers, bad
 * query strings and request ids. Every answer must be a 4xx carrying a catalogue error, nothing
 * may be enqueued, and the process must stay healthy. A failure prints FUZZ_SEED;
 * `FUZZ_SEED=<n> npx vitest run tests/api/fuzz.test.ts` replays it. FUZZ_CASES sets the count
 * per endpoint.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueSchemas, MAX_BATCH } from '../../src/api/queue-schemas.js';
import type { ErrorCode } from '../../src/errors.js';
import { builtinHandlers } from '../../src/worker/handlers/builtins.js';
import { HandlerRegistry } from '../../src/worker/handlers/registry.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import { fuzzSeed, INVALID_UTF8, mixSeed, nested, nonStringValue, notJson, Rng, spliceBytes } from '../helpers/fuzz.js';
import {
  describeCase,
  expectLive,
  injectCase,
  isObject,
  jsonSyntax,
  problemWith,
  type BodyCase,
  type FuzzCase,
  type FuzzHeaders,
} from '../helpers/fuzz.js';
import { enqueued, newClient, type Client } from '../helpers/queue-api.js';

const SEED = fuzzSeed(0x9e0e_f022);
const CASES_PER_ENDPOINT = Number(process.env.FUZZ_CASES ?? 600);
const PAYLOAD_LIMIT = 4_096;
const ENQUEUE_BODY_LIMIT = 65_536;
const BODY_LIMIT = 16_384;
const MAX_DEPTH = 32;
const MARK = '@@BAD@@';

let server: TestServer;
let fixture: Client;
/** A request of another client: reading or cancelling it must look exactly like an unknown id. */
let othersRequestId: string;
let forgedTokens: string[] = [];
let schemas: ReturnType<typeof enqueueSchemas>;
const registry = new HandlerRegistry(builtinHandlers([]));

// ---------------------------------------------------------------------------------------------
// Cases

function depthOf(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 0]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [value, depth] = entry;
    deepest = Math.max(deepest, depth);
    if (value !== null && typeof value === 'object') for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * What the enqueue route must answer to this parsed body, worked out independently of the route:
 * the body's shape first, then each request in order (type, depth, size, payload schema). It also
 * checks the generator: a body the route would accept is a bug here, never sent.
 */
function expectForEnqueue(body: unknown, text: string): ErrorCode {
  const batch = isObject(body) && Object.hasOwn(body, 'requests');
  if (!Value.Check(batch ? schemas.NewBatch : schemas.NewRequest, body)) return 'validation_failed';
  const items = (batch ? (body as { requests: unknown[] }).requests : [body]) as { type: string; payload?: unknown }[];
  for (const item of items) {
    const payload = item.payload ?? null;
    if (!registry.get(item.type)) return 'unknown_type';
    if (depthOf(payload) > MAX_DEPTH) return 'validation_failed';
    if (Buffer.byteLength(JSON.stringify(payload)) > PAYLOAD_LIMIT) return 'payload_too_large';
    try {
      registry.validatePayload(item.type, payload);
    } catch {
      return 'validation_failed';
    }
  }
  throw new Error(`fuzz generator produced a valid enqueue body: ${text.slice(0, 200)}`);
}

function expectForJson(text: string): ErrorCode[] {
  const syntax = jsonSyntax(text);
  return 'expect' in syntax ? syntax.expect : [expectForEnqueue(syntax.parsed, text)];
}

/** Stands for a deeply nested payload in a generated value; spliced in as text (JSON.stringify would recurse). */
const DEEP = '@@DEEP@@';
let deepText = '';

const json = (label: string, value: unknown): BodyCase => {
  const text = typeof value === 'string' ? value : JSON.stringify(value).replace(`"${DEEP}"`, () => deepText);
  return { label, payload: text, contentType: 'application/json', expect: expectForJson(text) };
};

const sleepOk = (rng: Rng) => ({ type: 'sleep', payload: { ms: rng.int(0, 60_000) } });
const validRequest = (rng: Rng): Record<string, unknown> =>
  rng.pick<() => Record<string, unknown>>([
    () => ({ type: 'noop' }),
    () => ({ type: 'noop', payload: null }),
    () => ({ type: 'echo', payload: { n: rng.int(0, 100) }, maxAttempts: rng.int(1, 25) }),
    () => ({ ...sleepOk(rng), timeoutMs: rng.int(1, 600_000), idempotencyKey: rng.string(rng.int(1, 200)) }),
  ])();

/** One defect in one request's own fields (its shape, not its payload). */
function fieldDefect(rng: Rng, request: Record<string, unknown>): string {
  const defect = rng.pick<() => [string, string, unknown] | [string, 'delete']>([
    () => ['type', 'wrong-type', JSON.parse(nonStringValue(rng)) as unknown],
    () => ['type', 'bad-string', rng.pick(['', 't'.repeat(rng.int(65, 500))])],
    () => ['type', 'delete'],
    () => ['maxAttempts', 'out-of-range', rng.pick([0, -1, 26, 100, 1e9, -1e9])],
    () => ['maxAttempts', 'wrong-type', rng.pick([1.5, '3', true, null, [], {}, '', 3.0000001])],
    () => ['timeoutMs', 'out-of-range', rng.pick([0, -5, 600_001, 1e12])],
    () => ['timeoutMs', 'wrong-type', rng.pick([2.5, '1000', false, null, [1000], { ms: 1 }])],
    () => ['idempotencyKey', 'bad-string', rng.pick(['', 'k'.repeat(rng.int(201, 2_000))])],
    () => ['idempotencyKey', 'wrong-type', JSON.parse(nonStringValue(rng)) as unknown],
    () => [rng.pick(['priority', 'id', 'clientId', 'status', 'Type', '', 'payload ', '__proto', 'constructor']), 'extra', 1],
  ])();
  if (defect[1] === 'delete') {
    delete request[defect[0]];
    return 'missing type';
  }
  request[defect[0]] = defect[2];
  return `${defect[1]} ${defect[0]}`;
}

/** One defect in a request's payload, or its type. */
function payloadDefect(rng: Rng, request: Record<string, unknown>): string {
  return rng.pick<() => string>([
    () => {
      request.type = rng.pick(['teleport', 'Sleep', 'ECHO', 'noop ', 'sleep\u0000', 'http2', rng.string(rng.int(1, 64)), 'ümlaut']);
      return 'unknown type';
    },
    () => {
      request.type = 'sleep';
      request.payload = rng.pick<unknown>([{ ms: -1 }, { ms: 60_001 }, { ms: '5' }, { ms: 1.5 }, {}, { ms: 5, extra: 1 }, [], 'x', 5, null]);
      return 'sleep payload';
    },
    () => {
      request.type = 'noop';
      request.payload = rng.pick<unknown>([1, 'x', [], [1], { a: 1 }, true]);
      return 'noop payload';
    },
    () => {
      request.type = 'echo';
      const depth = rng.weighted([[3, rng.int(MAX_DEPTH + 1, MAX_DEPTH + 10)], [1, rng.int(100, 5_000)]] as const);
      deepText = nested(depth, rng.pick(['array', 'object'] as const), '"x"');
      request.payload = DEEP;
      return `deep payload ${depth}`;
    },
    () => {
      request.type = 'echo';
      request.payload = { blob: 'b'.repeat(PAYLOAD_LIMIT + rng.int(0, 20_000)) };
      return 'large payload';
    },
  ])();
}

/** A single request or a batch with exactly one bad element. */
function shapedBody(rng: Rng): BodyCase {
  const bad = validRequest(rng);
  const what = rng.chance(0.5) ? fieldDefect(rng, bad) : payloadDefect(rng, bad);
  if (rng.chance(0.5)) return json(`single: ${what}`, bad);
  const requests = Array.from({ length: rng.int(1, 12) }, () => validRequest(rng));
  const at = rng.int(0, requests.length);
  requests.splice(at, 0, bad);
  return json(`batch[${at}]: ${what}`, { requests });
}

function batchShape(rng: Rng): BodyCase {
  return rng.pick<() => BodyCase>([
    () => json('batch empty', { requests: [] }),
    () => json('batch too long', { requests: Array.from({ length: MAX_BATCH + rng.int(1, 50) }, () => ({ type: 'noop' })) }),
    () => json('batch not an array', { requests: JSON.parse(nonStringValue(rng).replace(/^\[.*\]$/, '{}')) as unknown }),
    () => json('batch of scalars', { requests: [validRequest(rng), rng.pick([1, 'noop', null, [], true])] }),
    () => json('batch with a request field', { requests: [validRequest(rng)], type: 'noop' }),
    () => json('batch with an extra key', { requests: [validRequest(rng)], [rng.pick(['atomic', 'id', ''])]: true }),
    () => json('batch nested', { requests: [{ requests: [validRequest(rng)] }] }),
  ])();
}

const NON_JSON_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  'text/json',
  'application/ld+json',
  'application/vnd.api+json',
  'application/json-patch+json',
];

/** Bodies malformed below the JSON shape: encoding, syntax, size, content type. */
function rawBody(rng: Rng, limit: number): BodyCase {
  const sample = JSON.stringify(validRequest(rng));
  return rng.pick<() => BodyCase>([
    () => json('not-json', notJson(rng, sample)),
    () => {
      const proto = rng.pick(['"__proto__"', '"\\u005f_proto__"']);
      return json('proto-key', rng.chance(0.5) ? `{${proto}:{"type":"noop"},"type":"noop"}` : `{"type":"echo","payload":{"a":[{${proto}:1}]}}`);
    },
    () => {
      const bytes = rng.pick(INVALID_UTF8);
      const text = sample.replace('"type"', `"type${MARK}"`);
      return { label: 'invalid-utf8', payload: spliceBytes(text, MARK, bytes), contentType: 'application/json', expect: ['invalid_encoding'] };
    },
    () => {
      const contentType = rng.chance(0.15) ? undefined : rng.pick(NON_JSON_TYPES);
      return { label: `content-type ${contentType ?? '(none)'}`, payload: sample, ...(contentType ? { contentType } : {}), expect: ['unsupported_media_type'] };
    },
    () => {
      const body = Buffer.alloc(limit + rng.int(1, 4_096), rng.pick([' ', 'a', '[']));
      body.write('{"type":"echo","payload":"', 0);
      return { label: 'oversize', payload: body, contentType: 'application/json', expect: ['payload_too_large'] };
    },
    () => json('empty-ish', rng.pick([' ', 'null', '[]', '""', '0', 'true', '[{"type":"noop"}]'])),
  ])();
}

function enqueueBody(rng: Rng): BodyCase {
  return rng.weighted<() => BodyCase>([
    [45, () => shapedBody(rng)],
    [10, () => batchShape(rng)],
    [25, () => rawBody(rng, ENQUEUE_BODY_LIMIT)],
  ])();
}

/** Authorization headers that must all answer 401. */
function bogusAuthorization(rng: Rng): string | undefined {
  return rng.pick<() => string | undefined>([
    () => undefined,
    () => rng.pick(['', 'Bearer', 'Bearer ', 'bearer x.y.z', 'Token a.b.c', 'Basic Zm9vOmJhcg==']),
    () => rng.pick(['Bearer a', 'Bearer a.b', 'Bearer a.b.c', 'Bearer a.b.c.d', 'Bearer  a.b.c', 'Bearer é.é.é']),
    () => `Bearer ${rng.base64url(rng.int(4, 60))}.${rng.base64url(rng.int(4, 200))}.${rng.base64url(32)}`,
    () => `Bearer ${rng.pick(forgedTokens)}`,
  ])();
}

const validAuth = (): FuzzHeaders => ({ authorization: `Bearer ${fixture.token}` });

/** A query string with at least one parameter and at least one defect, for `allowed` known keys. */
function badQuery(rng: Rng, known: Record<string, () => string>): string {
  const defects: (() => [string, string])[] = [
    () => [rng.pick(['verbose', 'page', 'offset', 'a', '', '__proto__', 'constructor', 'LIMIT']), rng.string(rng.int(0, 10))],
    () => [rng.string(rng.int(1, 30)) + '_', 'x'],
  ];
  for (const [key, badValue] of Object.entries(known)) defects.push(() => [key, badValue()]);
  const pairs: [string, string][] = [rng.pick(defects)()];
  // A known parameter given twice is an array, which no parameter takes.
  const keys = Object.keys(known);
  if (keys.length > 0 && rng.chance(0.15)) {
    const key = rng.pick(keys);
    pairs.splice(0, 1, [key, '1'], [key, '2']);
  }
  return `?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&')}`;
}

const BAD_LIMIT = (rng: Rng) => () => rng.pick(['0', '101', '-1', '1.5', 'ten', '', 'true', '[]', '1000000', '99999999999999999999']);
const BAD_CURSOR = (rng: Rng) => () =>
  rng.pick<() => string>([
    () => '',
    () => rng.base64url(rng.int(1, 100)),
    () => Buffer.from(randomUUID().replace(/-/g, '')).toString('base64url'),
    () => rng.string(rng.int(201, 1_000)),
    () => rng.pick(['%', '..', '../../etc', 'null', '0', '*']),
  ])();
const BAD_STATUS = (rng: Rng) => () => rng.pick(['done', 'QUEUED', 'archived', '', 'queued,running', 'null', '1']);
const BAD_WAIT = (rng: Rng) => () => rng.pick(['-1', '31', '1.5', 'soon', '', 'true', '1e9', 'NaN', '[]', '30.5']);

/** Ids that cannot be the caller's request: malformed, unknown, or another client's. */
function strangeId(rng: Rng): { id: string; expect: ErrorCode[] } {
  return rng.pick<() => { id: string; expect: ErrorCode[] }>([
    () => ({ id: randomUUID(), expect: ['not_found'] }),
    () => ({ id: othersRequestId, expect: ['not_found'] }),
    () => ({ id: encodeURIComponent(othersRequestId.toUpperCase()), expect: ['not_found'] }),
    // Not '.' or '..': URL normalisation turns those into another path, which is the router's business.
    () => ({ id: encodeURIComponent(rng.pick(['x', '0', 'null', 'undefined', "1' OR '1'='1", '...', '~', '$', ' ', 'ü'])), expect: ['not_found'] }),
    () => ({ id: encodeURIComponent(rng.string(rng.int(1, 90))), expect: ['not_found'] }),
    () => ({ id: rng.string(rng.int(101, 3_000)), expect: ['not_found'] }),
    () => ({ id: `${randomUUID()}x`, expect: ['not_found'] }),
    () => ({ id: rng.pick(['%', '%E0%A4%A', '%ZZ', '%C0%AF']), expect: ['bad_request', 'not_found'] }),
  ])();
}

interface Endpoint {
  name: string;
  generate(rng: Rng): FuzzCase;
}

function withAuthOrNot(rng: Rng, make: (headers: FuzzHeaders) => Omit<FuzzCase, 'headers'>): FuzzCase {
  if (rng.chance(0.2)) {
    const headers: FuzzHeaders = {};
    const authorization = bogusAuthorization(rng);
    if (authorization !== undefined) headers.authorization = authorization;
    const base = make(headers);
    return { ...base, label: `bogus-token + ${base.label}`, headers, expect: ['unauthorized'] };
  }
  const headers = validAuth();
  return { ...make(headers), headers };
}

function queryEndpoint(name: string, method: 'GET' | 'DELETE', path: string, known: (rng: Rng) => Record<string, () => string>): Endpoint {
  return {
    name,
    generate: (rng) =>
      withAuthOrNot(rng, () => ({ label: 'bad query', method, url: path + badQuery(rng, known(rng)), expect: ['validation_failed'] })),
  };
}

function idEndpoint(name: string, method: 'GET' | 'DELETE'): Endpoint {
  return {
    name,
    generate: (rng) => {
      const { id, expect: byId } = strangeId(rng);
      const url = `/api/queue/requests/${id}`;
      const routing: ErrorCode[] = id.length > 100 ? ['not_found'] : byId.includes('bad_request') ? ['bad_request'] : [];
      const fuzzCase = withAuthOrNot(rng, (headers) => {
        if (rng.chance(0.3)) return { label: `id + bad query`, method, url: url + badQuery(rng, {}), expect: ['validation_failed'] };
        if (method === 'DELETE' && rng.chance(0.3)) {
          const body = rawBody(rng, BODY_LIMIT);
          if (body.contentType !== undefined) headers['content-type'] = body.contentType;
          // The DELETE route ignores a body it can parse; one it cannot parse is refused first.
          const parsable = body.expect.includes('validation_failed') || body.expect.includes('unknown_type');
          return { label: `id + body ${body.label}`, method, url, ...(body.payload === undefined ? {} : { payload: body.payload }), expect: parsable ? byId : body.expect };
        }
        return { label: `id ${id.slice(0, 40)}`, method, url, expect: byId };
      });
      // Routing comes before everything: a path Fastify cannot route never reaches auth.
      return routing.length > 0 ? { ...fuzzCase, expect: [...routing, ...(routing.includes('not_found') ? fuzzCase.expect : [])] } : fuzzCase;
    },
  };
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    name: 'POST /api/queue/enqueue',
    generate: (rng) => {
      const body = enqueueBody(rng);
      return withAuthOrNot(rng, (headers) => {
        if (body.contentType !== undefined) headers['content-type'] = body.contentType;
        const url = rng.chance(0.1) ? `/api/queue/enqueue${badQuery(rng, {})}` : '/api/queue/enqueue';
        return { label: body.label, method: 'POST', url, ...(body.payload === undefined ? {} : { payload: body.payload }), expect: body.expect };
      });
    },
  },
  queryEndpoint('GET /api/queue', 'GET', '/api/queue', () => ({})),
  queryEndpoint('GET /api/queue/types', 'GET', '/api/queue/types', () => ({})),
  queryEndpoint('GET /api/queue/requests', 'GET', '/api/queue/requests', (rng) => ({
    limit: BAD_LIMIT(rng),
    cursor: BAD_CURSOR(rng),
    status: BAD_STATUS(rng),
  })),
  idEndpoint('GET /api/queue/requests/:id', 'GET'),
  idEndpoint('DELETE /api/queue/requests/:id', 'DELETE'),
  queryEndpoint('GET /api/queue/dequeue', 'GET', '/api/queue/dequeue', (rng) => ({ wait: BAD_WAIT(rng) })),
];

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  server = await startTestServer({
    RATE_LIMIT_ENQUEUE_PER_S: '1000000',
    PAYLOAD_LIMIT_BYTES: String(PAYLOAD_LIMIT),
    ENQUEUE_BODY_LIMIT_BYTES: String(ENQUEUE_BODY_LIMIT),
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
    PAYLOAD_MAX_DEPTH: String(MAX_DEPTH),
  });
  schemas = enqueueSchemas({ maxAttempts: server.config.MAX_ATTEMPTS_LIMIT, maxTimeoutMs: server.config.MAX_TIMEOUT_MS });
  fixture = await newClient(server.app);
  othersRequestId = (await enqueued(server.app, await newClient(server.app), { type: 'noop' })).id;

  const key = new TextEncoder().encode(server.config.JWT_SECRET);
  const issuer = server.config.JWT_ISSUER;
  const now = Math.floor(Date.now() / 1000);
  const signed = () => new SignJWT({ sid: randomUUID(), role: 'user' }).setProtectedHeader({ alg: 'HS256' }).setSubject(fixture.id);
  const [head, body, signature] = fixture.token.split('.') as [string, string, string];
  forgedTokens = [
    await signed().setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode('y'.repeat(64))),
    await signed().setIssuer('not-laneq').setIssuedAt().setExpirationTime('5m').sign(key),
    await signed().setIssuer(issuer).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(key),
    `${head}.${body}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`,
    `${head}.${body}.`,
  ];
});

afterAll(async () => {
  await server?.stop();
});

describe('queue endpoints refuse seeded malformed requests with 4xx catalogue errors', () => {
  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.name}: ${CASES_PER_ENDPOINT} malformed requests (seed ${SEED})`, { timeout: 120_000 }, async () => {
      const failures: string[] = [];
      for (let index = 0; index < CASES_PER_ENDPOINT; index += 1) {
        const fuzzCase = endpoint.generate(new Rng(mixSeed(SEED, endpoint.name, index)));
        const response = await injectCase(server.app, fuzzCase);
        const problem = problemWith(fuzzCase, response.statusCode, response.headers['content-type'], response.body);
        if (problem) failures.push(describeCase(SEED, endpoint.name, index, fuzzCase, response.statusCode, response.body, problem));
      }
      expect(failures, `${failures.length} of ${CASES_PER_ENDPOINT} answers were wrong:\n${failures.slice(0, 15).join('\n')}`).toEqual([]);
      await expectLive(server.app, SEED);
    });
  }

  it('enqueued nothing, cancelled nothing, and the process is healthy', async () => {
    await expectLive(server.app, SEED);
    const figures = await call(server.app, 'GET', '/api/queue', { token: fixture.token });
    expect(figures.body).toMatchObject({ pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
    expect(({} as Record<string, unknown>).polluted, 'Object.prototype was polluted').toBeUndefined();
  });
});
