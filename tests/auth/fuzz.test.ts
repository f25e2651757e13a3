/**
 * Fuzzes every auth endpoint with seeded, definitely-malformed requests: wrong JSON types, bad
 * strings, missing / extra / duplicate / `__proto__` keys, deep nesting, invalid UTF-8, non-JSON
 * and cut-short bodies, bodies over BODY_LIMIT_BYTES, wrong content types, bogus Authorization
 * headers and odd query strings. Every answer must be a 4xx carrying a catalogue error, and the
 * process must stay healthy. A failure prints FUZZ_SEED; `FUZZ_SEED=<n> npx vitest run
 * tests/auth/fuzz.test.ts` replays the same requests. FUZZ_CASES changes the count per endpoint.
 */
import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Credentials, LoginBody, RefreshBody } from '../../src/auth/schemas.js';
import type { ErrorCode } from '../../src/errors.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { call } from '../helpers/http.js';
import { fuzzSeed, INVALID_UTF8, mixSeed, nested, nonStringValue, notJson, Rng, spliceBytes } from '../helpers/fuzz.js';
import {
  describeCase,
  expectLive,
  injectCase,
  jsonSyntax,
  problemWith,
  type BodyCase,
  type FuzzCase as AnyFuzzCase,
  type FuzzHeaders,
} from '../helpers/fuzz.js';

const SEED = fuzzSeed(0x1a5e_f022);
const CASES_PER_ENDPOINT = Number(process.env.FUZZ_CASES ?? 1000);
const MARK = '@@BAD@@';

let server: TestServer;
let bodyLimit: number;
let fixture: { id: string; username: string; password: string; accessToken: string };
/** Access tokens with a defect each (signature, algorithm, issuer, expiry, claims). */
let forgedTokens: string[] = [];

// ---------------------------------------------------------------------------------------------
// Cases

/** The auth routes fuzzed here take GET and POST only. */
type FuzzCase = AnyFuzzCase<'GET' | 'POST'>;

interface BodyEndpoint {
  name: string;
  path: string;
  schema: TSchema;
  fields: readonly string[];
  /** A string this field accepts. */
  validString(field: string, rng: Rng): string;
  /** A string this field refuses (length or pattern). */
  badString(field: string, rng: Rng): string;
}

const huge = (rng: Rng, min = 100_000, max = 300_000) => rng.string(1, 'aZ9_-.x').repeat(rng.int(min, max));

const REGISTER: BodyEndpoint = {
  name: 'register',
  path: '/api/auth/register',
  schema: Credentials,
  fields: ['username', 'password'],
  validString: (field, rng) => (field === 'username' ? `fz_${rng.string(rng.int(4, 20))}` : rng.string(rng.int(8, 40))),
  badString: (field, rng) =>
    field === 'username'
      ? rng.pick<() => string>([
          () => rng.pick(['', 'a', 'ab', '..', ' ', 'has space', 'semi;colon', "quote'd", 'slash/name', 'back\\slash']),
          () => rng.pick(['ümlaut', 'emoji😀x', 'ａｄｍｉｎ', 'null\u0000byte', 'tab\tname', 'line\nbreak', 'rtl\u202eabc']),
          () => rng.pick(["' OR '1'='1", 'admin"--', '<script>', '${jndi:x}', '%00admin', 'a@b.c', 'ab\u200b']),
          () => 'u'.repeat(rng.int(65, 300)),
          () => huge(rng),
        ])()
      : rng.pick<() => string>([
          () => rng.string(rng.int(0, 7)),
          () => rng.string(rng.int(257, 2000)),
          () => huge(rng),
        ])(),
};

const LOGIN: BodyEndpoint = {
  name: 'login',
  path: '/api/auth/login',
  schema: LoginBody,
  fields: ['username', 'password'],
  validString: (_field, rng) => rng.string(rng.int(1, 30)),
  badString: (field, rng) =>
    rng.pick<() => string>([
      () => '',
      () => 'x'.repeat(field === 'username' ? rng.int(257, 5000) : rng.int(1025, 5000)),
      () => huge(rng),
    ])(),
};

const REFRESH: BodyEndpoint = {
  name: 'refresh',
  path: '/api/auth/refresh',
  schema: RefreshBody,
  fields: ['refreshToken'],
  validString: (_field, rng) => rng.base64url(32),
  badString: (_field, rng) =>
    rng.pick<() => string>([() => '', () => rng.base64url(rng.int(390, 3000)), () => huge(rng)])(),
};

const BODY_ENDPOINTS = [REGISTER, LOGIN, REFRESH] as const;

/** JSON object text from [key, value-as-JSON] pairs; keys are JSON-encoded unless `raw`. */
function objectText(entries: readonly (readonly [string, string, 'raw'?])[]): string {
  return `{${entries.map(([key, value, raw]) => `${raw ? key : JSON.stringify(key)}:${value}`).join(',')}}`;
}

const validEntries = (endpoint: BodyEndpoint, rng: Rng) =>
  endpoint.fields.map((field) => [field, JSON.stringify(endpoint.validString(field, rng))] as const);

/**
 * What a JSON route must answer to this (valid UTF-8, small enough) JSON text. It also checks
 * the generator: text that would pass the route's schema is a bug here, never sent.
 */
function expectForJson(endpoint: BodyEndpoint, text: string): ErrorCode[] {
  const syntax = jsonSyntax(text);
  if ('expect' in syntax) return syntax.expect;
  if (Value.Check(endpoint.schema, syntax.parsed)) {
    throw new Error(`fuzz generator produced a valid ${endpoint.name} body: ${text.slice(0, 200)}`);
  }
  return ['validation_failed'];
}

const json = (endpoint: BodyEndpoint, label: string, text: string): BodyCase => ({
  label,
  payload: text,
  contentType: 'application/json',
  expect: expectForJson(endpoint, text),
});

type Category =
  | 'wrong-type'
  | 'bad-string'
  | 'missing-field'
  | 'extra-field'
  | 'proto-key'
  | 'deep-nesting'
  | 'not-json'
  | 'invalid-utf8'
  | 'content-type'
  | 'oversize'
  | 'empty-ish'
  | 'odd-json-content-type';

const CATEGORY_WEIGHTS: readonly (readonly [number, Category])[] = [
  [18, 'wrong-type'],
  [14, 'bad-string'],
  [8, 'missing-field'],
  [10, 'extra-field'],
  [6, 'proto-key'],
  [6, 'deep-nesting'],
  [10, 'not-json'],
  [10, 'invalid-utf8'],
  [10, 'content-type'],
  [3, 'oversize'],
  [3, 'empty-ish'],
  [2, 'odd-json-content-type'],
];

const NON_JSON_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=fuzzBoundary',
  'application/xml',
  'text/xml',
  'text/html',
  'application/octet-stream',
  'application/javascript',
  'text/json',
  'application/jsonp',
  'application/json5',
  'application/ld+json',
  'application/vnd.api+json',
  'application/problem+json',
  'application/x-json',
  'application/json-patch+json',
  'json',
  '*/*',
  'application/*',
  'image/png',
  'application/graphql',
];

function bodyCase(endpoint: BodyEndpoint, rng: Rng, category: Category): BodyCase {
  switch (category) {
    case 'wrong-type': {
      const wrong = endpoint.fields.filter(() => rng.chance(0.6));
      if (wrong.length === 0) wrong.push(rng.pick(endpoint.fields));
      const entries = endpoint.fields.flatMap((field) => {
        if (wrong.includes(field)) return [[field, nonStringValue(rng)] as const];
        if (rng.chance(0.2)) return [];
        return [[field, JSON.stringify(endpoint.validString(field, rng))] as const];
      });
      return json(endpoint, `wrong-type ${wrong.join('+')}`, objectText(entries));
    }
    case 'bad-string': {
      const bad = endpoint.fields.filter(() => rng.chance(0.5));
      if (bad.length === 0) bad.push(rng.pick(endpoint.fields));
      const entries = endpoint.fields.map(
        (field) =>
          [field, JSON.stringify(bad.includes(field) ? endpoint.badString(field, rng) : endpoint.validString(field, rng))] as const,
      );
      return json(endpoint, `bad-string ${bad.join('+')}`, objectText(entries));
    }
    case 'missing-field': {
      const kept = validEntries(endpoint, rng).filter(() => rng.chance(0.5));
      if (kept.length === endpoint.fields.length) kept.pop();
      return json(endpoint, `missing-field kept=${kept.map(([field]) => field).join('+') || 'none'}`, objectText(kept));
    }
    case 'extra-field': {
      const entries: (readonly [string, string, 'raw'?])[] = validEntries(endpoint, rng);
      const extra = rng.pick<() => readonly [string, string, 'raw'?]>([
        () => ['role', '"admin"'],
        () => ['isAdmin', 'true'],
        () => ['id', JSON.stringify(randomUUID())],
        () => ['', '""'],
        () => ['constructor', '{"prototype":{"polluted":true}}'],
        () => ['prototype', '{}'],
        () => ['Username', JSON.stringify(endpoint.validString(endpoint.fields[0] as string, rng))],
        () => ['пароль', '"x"'],
        () => [rng.string(rng.int(1, 40)), nonStringValue(rng)],
        () => ['k'.repeat(rng.int(1000, 120_000)), '1'],
        () => ['deep', nested(rng.int(1000, 10_000), rng.pick(['array', 'object'] as const))],
      ])();
      if (rng.chance(0.15)) {
        // A duplicate key instead: JSON.parse keeps the last one, which is the wrong type.
        const field = rng.pick(endpoint.fields);
        entries.push([field, nonStringValue(rng)]);
        return json(endpoint, `extra-field duplicate ${field}`, objectText(entries));
      }
      entries.splice(rng.int(0, entries.length), 0, extra);
      return json(endpoint, `extra-field ${extra[0].slice(0, 20)}`, objectText(entries));
    }
    case 'proto-key': {
      const proto = rng.pick(['"__proto__"', '"\\u005f_proto__"', '"__proto\\u005f_"', '"\\u005F\\u005Fproto__"']);
      const value = rng.pick(['{"role":"admin"}', '{"polluted":true}', '{}', 'null', '[]', '"x"']);
      const entries: (readonly [string, string, 'raw'?])[] = validEntries(endpoint, rng);
      const where = rng.int(0, 2);
      if (where === 0) entries.splice(rng.int(0, entries.length), 0, [proto, value, 'raw']);
      else if (where === 1) entries.push(['nested', `{"a":[{${proto}:${value}}]}`]);
      else entries[0] = [endpoint.fields[0] as string, `{${proto}:${value}}`];
      return json(endpoint, `proto-key at=${where}`, objectText(entries));
    }
    case 'deep-nesting': {
      const depth = rng.int(5_000, 20_000);
      const kind = rng.pick(['array', 'object'] as const);
      const form = rng.int(0, 3);
      const text =
        form === 0
          ? nested(depth, kind)
          : form === 1
            ? objectText([[endpoint.fields[0] as string, nested(depth, kind, '"x"')]])
            : form === 2
              ? objectText([...validEntries(endpoint, rng), ['deep', nested(depth, kind)]])
              : nested(depth, kind).slice(0, -rng.int(1, 100)); // unbalanced
      return json(endpoint, `deep-nesting ${kind} depth=${depth} form=${form}`, text);
    }
    case 'not-json':
      return json(endpoint, 'not-json', notJson(rng, objectText(validEntries(endpoint, rng))));
    case 'invalid-utf8': {
      const bytes = rng.pick(INVALID_UTF8);
      const hex = bytes.map((b) => b.toString(16)).join(' ');
      const form = rng.int(0, 5);
      if (form === 5) {
        // The whole body in UTF-16: with a BOM it is invalid UTF-8, without one it is not JSON.
        const text = objectText(validEntries(endpoint, rng));
        const le = rng.chance(0.5);
        const body = Buffer.from(text, 'utf16le');
        if (!le) body.swap16();
        const bom = rng.chance(0.5) ? Buffer.from(le ? [0xff, 0xfe] : [0xfe, 0xff]) : Buffer.alloc(0);
        return {
          label: `invalid-utf8 utf16${le ? 'le' : 'be'} bom=${bom.length > 0}`,
          payload: Buffer.concat([bom, body]),
          contentType: 'application/json',
          expect: ['invalid_encoding', 'invalid_json'],
        };
      }
      const entries: (readonly [string, string, 'raw'?])[] = validEntries(endpoint, rng);
      // Form 0 is the dangerous one: a body of exactly the right shape, but for one bad byte in a
      // value. A parser that papers over it with U+FFFD would accept it.
      const field = rng.int(0, entries.length - 1);
      const [name, value] = entries[field] as readonly [string, string];
      if (form === 0) entries[field] = [name, `${value.slice(0, -1)}${MARK}"`];
      let text = objectText(entries);
      if (form === 1) text = text.replace(`"${name}"`, `"${name}${MARK}"`);
      if (form === 2) text = text.replace(':', `:${MARK}`);
      if (form === 3) text = MARK + text;
      if (form === 4) text += MARK;
      return {
        label: `invalid-utf8 [${hex}] form=${form}`,
        payload: spliceBytes(text, MARK, bytes),
        contentType: rng.pick(['application/json', 'application/json; charset=utf-8']),
        expect: ['invalid_encoding'],
      };
    }
    case 'content-type': {
      const contentType = rng.chance(0.12) ? undefined : rng.pick(NON_JSON_TYPES);
      const values = endpoint.fields.map((field) => [field, endpoint.validString(field, rng)] as const);
      const payload = rng.pick<() => string>([
        () => objectText(values.map(([field, value]) => [field, JSON.stringify(value)])),
        () => new URLSearchParams(Object.fromEntries(values)).toString(),
        () =>
          values
            .map(([field, value]) => `--fuzzBoundary\r\nContent-Disposition: form-data; name="${field}"\r\n\r\n${value}\r\n`)
            .join('') + '--fuzzBoundary--\r\n',
        () => `<?xml version="1.0"?><user>${values.map(([f, v]) => `<${f}>${v}</${f}>`).join('')}</user>`,
        () => notJson(rng, '{}'),
      ])();
      return {
        label: `content-type ${contentType ?? '(none)'}`,
        payload,
        ...(contentType ? { contentType } : {}),
        expect: ['unsupported_media_type'],
      };
    }
    case 'oversize': {
      const over = rng.int(1, 2048);
      const prefix = rng.pick(['{"username":"', '{"refreshToken":"', '[', '', '{"a":"']);
      const body = Buffer.alloc(bodyLimit + over, rng.pick(['a', ' ', '7', '[']));
      body.write(prefix, 0, 'utf8');
      return { label: `oversize limit+${over}`, payload: body, contentType: 'application/json', expect: ['payload_too_large'] };
    }
    case 'empty-ish': {
      const form = rng.int(0, 3);
      if (form === 0) return { label: 'empty-ish no body, no content type', expect: ['validation_failed'] };
      if (form === 1) return { label: 'empty-ish empty JSON body', payload: '', contentType: 'application/json', expect: ['validation_failed'] };
      if (form === 2) {
        // Exactly at the limit (not over): parsed, and refused for its shape.
        const body = Buffer.alloc(bodyLimit, ' ');
        body.write('[', 0);
        body.write(']', bodyLimit - 1);
        return { label: 'empty-ish array at exactly the limit', payload: body, contentType: 'application/json', expect: ['validation_failed'] };
      }
      return json(endpoint, 'empty-ish scalar', rng.pick([' \n\t ', 'null', '[]', '""', '0', 'true', '"{}"', `"${'x'.repeat(64)}"`]));
    }
    case 'odd-json-content-type': {
      const contentType = rng.pick([
        'APPLICATION/JSON',
        'application/json;charset=utf-16',
        'application/json; charset=latin1',
        'application/json; foo=bar; charset=utf-8',
        'application/json ; charset=utf-8',
        'application/json,text/plain',
        'application/json\t',
      ]);
      const base = bodyCase(endpoint, rng, rng.pick(['wrong-type', 'not-json', 'proto-key', 'missing-field'] as const));
      return {
        ...base,
        label: `odd-json-content-type ${contentType} / ${base.label}`,
        contentType,
        expect: [...base.expect, 'unsupported_media_type'],
      };
    }
  }
}

const ODD_QUERIES = [
  '?',
  '?&',
  '?=',
  '?a',
  '?a=%ZZ',
  '?%',
  '?%00=%00',
  '?%C0%AF=%FF%FE',
  '?%E2%98%83=%F0%9F%92%A9',
  '?__proto__[polluted]=1',
  '?__proto__.polluted=1',
  '?constructor[prototype][polluted]=1',
  '?a[b][c][d][e]=1',
  '?username=admin&password=secret123',
  '?refreshToken=x',
  '?a=1&a=2&a=3',
  '?;a=1',
  '?a=b=c',
  '??a=1',
  '?+++=+++',
  '?a=<script>',
];

function oddQuery(rng: Rng): string {
  return rng.pick<() => string>([
    () => rng.pick(ODD_QUERIES),
    () => `?a=${'x'.repeat(rng.int(1000, 20_000))}`,
    () => `?${'&'.repeat(rng.int(100, 5000))}`,
    () => `?${Array.from({ length: rng.int(50, 500) }, (_, i) => `k${i}=${i}`).join('&')}`,
    () => `?${encodeURIComponent(rng.string(rng.int(1, 50), 'ab=&%[]#+ ;,/?'))}`,
  ])();
}

/** Headers that must change nothing on these routes. */
function noiseHeaders(rng: Rng, headers: FuzzHeaders): void {
  if (rng.chance(0.15)) headers['x-request-id'] = rng.pick(['', 'x'.repeat(500), '../../etc/passwd', '<script>', 'a b', rng.base64(12)]);
  if (rng.chance(0.1)) headers.accept = rng.pick(['application/xml', 'text/html', '*/*', '', 'application/json;q=0']);
  if (rng.chance(0.1)) headers['x-forwarded-for'] = rng.pick(['1.2.3.4', 'not-an-ip', '::1, 10.0.0.1', '']);
  if (rng.chance(0.05)) headers['x-http-method-override'] = rng.pick(['DELETE', 'GET', 'PUT']);
}

function bogusAuthorization(rng: Rng): string | string[] | undefined {
  return rng.pick<() => string | string[] | undefined>([
    () => undefined,
    () => '',
    () => rng.pick(['Bearer', 'Bearer ', 'Bearer  ', 'bearer', 'BEARER x.y.z', 'bearer a.b.c', 'Token a.b.c', 'JWT a.b.c']),
    () => rng.pick(['Bearer a', 'Bearer a.b', 'Bearer a.b.c', 'Bearer ..', 'Bearer a..', 'Bearer .b.', 'Bearer a.b.c.d', 'Bearer a.b.c.d.e']),
    () => rng.pick(['Bearer  a.b.c', 'Bearer a.b.c ', ' Bearer a.b.c', 'Bearer\ta.b.c', 'Bearer a.b.c,Bearer d.e.f', 'Bearer é.é.é']),
    () => `Basic ${Buffer.from(`${rng.string(8)}:${rng.string(12)}`).toString('base64')}`,
    () => `Bearer ${rng.base64(rng.int(1, 300))}`,
    () => `Bearer ${rng.base64url(rng.int(4, 60))}.${rng.base64url(rng.int(4, 200))}.${rng.base64url(32)}`,
    () => `Bearer ${rng.base64url(rng.int(4, 60))}.${rng.base64url(rng.int(4, 200))}`,
    () => `Bearer ${'a'.repeat(rng.int(10_000, 200_000))}.${'b'.repeat(rng.int(0, 1000))}.c`,
    () => `Bearer ${rng.string(rng.int(20_000, 100_000))}`,
    () => `Bearer ${rng.pick(forgedTokens)}`,
    () => `Bearer ${rng.pick(forgedTokens)}`,
    () => rng.pick(forgedTokens),
    () => [`Bearer ${rng.pick(forgedTokens)}`, `Bearer ${rng.pick(forgedTokens)}`],
  ])();
}

/**
 * refresh only: a body of the right shape whose token is junk (the refresh path hashes it and
 * looks it up; no argon2 involved, so these stay cheap). Never a token the server issued.
 */
function bogusRefreshToken(rng: Rng): BodyCase {
  const token = rng.pick<() => string>([
    () => rng.base64url(32),
    () => rng.pick(['\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', "' OR '1'='1", '%00', '../../x', ' ']),
    () => 'x'.repeat(512),
    () => fixture.accessToken.slice(0, 512),
    () => rng.string(rng.int(1, 512), 'abc\u00e9\u4e2d\ud83d\ude00'),
  ])();
  return {
    label: 'bogus-refresh-token',
    payload: JSON.stringify({ refreshToken: token }),
    contentType: 'application/json',
    expect: ['invalid_refresh_token'],
  };
}

function bodyRouteCase(endpoint: BodyEndpoint, rng: Rng): FuzzCase {
  const category = rng.weighted(CATEGORY_WEIGHTS);
  const body = endpoint === REFRESH && rng.chance(0.05) ? bogusRefreshToken(rng) : bodyCase(endpoint, rng, category);
  const headers: FuzzHeaders = {};
  if (body.contentType !== undefined) headers['content-type'] = body.contentType;
  if (rng.chance(0.2)) {
    const authorization = bogusAuthorization(rng);
    if (authorization !== undefined) headers.authorization = authorization;
  }
  noiseHeaders(rng, headers);
  const query = rng.chance(0.25) ? oddQuery(rng) : '';
  return {
    label: body.label,
    method: 'POST',
    url: endpoint.path + query,
    headers,
    ...(body.payload === undefined ? {} : { payload: body.payload }),
    expect: body.expect,
  };
}

/** logout and me: a bogus token comes first, whatever else is wrong with the request. */
function tokenRouteCase(method: 'GET' | 'POST', path: string, rng: Rng): FuzzCase {
  const headers: FuzzHeaders = {};
  const authorization = bogusAuthorization(rng);
  if (authorization !== undefined) headers.authorization = authorization;
  let payload: string | Buffer | undefined;
  let label = 'bogus-token';
  if (rng.chance(0.5)) {
    const body = bodyCase(rng.pick(BODY_ENDPOINTS), rng, rng.weighted(CATEGORY_WEIGHTS));
    if (body.contentType !== undefined) headers['content-type'] = body.contentType;
    payload = body.payload;
    label += ` + ${body.label}`;
  }
  noiseHeaders(rng, headers);
  const query = rng.chance(0.3) ? oddQuery(rng) : '';
  return { label, method, url: path + query, headers, ...(payload === undefined ? {} : { payload }), expect: ['unauthorized'] };
}

/**
 * logout with the fixture's real token and a body that cannot be parsed: the body is refused and
 * the session survives (checked at the end). Only bodies that never parse are drawn.
 */
function authenticatedLogoutCase(rng: Rng): FuzzCase {
  const category = rng.pick(['invalid-utf8', 'oversize', 'content-type', 'not-json', 'proto-key', 'deep-nesting'] as const);
  let body: BodyCase;
  do body = bodyCase(rng.pick(BODY_ENDPOINTS), rng, category);
  while (body.expect.includes('validation_failed') || body.payload === undefined);
  const headers: FuzzHeaders = { authorization: `Bearer ${fixture.accessToken}` };
  if (body.contentType !== undefined) headers['content-type'] = body.contentType;
  return { label: `valid-token + ${body.label}`, method: 'POST', url: '/api/auth/logout', headers, payload: body.payload, expect: body.expect };
}

interface EndpointPlan {
  name: string;
  generate(rng: Rng): FuzzCase;
}

const PLANS: readonly EndpointPlan[] = [
  ...BODY_ENDPOINTS.map((endpoint) => ({ name: endpoint.name, generate: (rng: Rng) => bodyRouteCase(endpoint, rng) })),
  {
    name: 'logout',
    generate: (rng) => (rng.chance(0.15) ? authenticatedLogoutCase(rng) : tokenRouteCase('POST', '/api/auth/logout', rng)),
  },
  { name: 'me', generate: (rng) => tokenRouteCase('GET', '/api/auth/me', rng) },
];

// ---------------------------------------------------------------------------------------------
// Checking answers

/** Usernames and passwords a register body carried, however it was encoded. */
function sentCredentials(fuzzCase: FuzzCase): { username: string; password: string } | undefined {
  if (fuzzCase.payload === undefined) return undefined;
  const text = Buffer.isBuffer(fuzzCase.payload) ? fuzzCase.payload.toString('utf8') : fuzzCase.payload; // lossy on purpose
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = Object.fromEntries(new URLSearchParams(text));
  }
  const { username, password } = (value ?? {}) as { username?: unknown; password?: unknown };
  return typeof username === 'string' && typeof password === 'string' ? { username, password } : undefined;
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  server = await startTestServer({ RATE_LIMIT_AUTH_PER_IP: '1000000', RATE_LIMIT_LOGIN_FAILURES: '1000000' });
  bodyLimit = server.config.BODY_LIMIT_BYTES;

  const username = `fixture_${process.pid}`;
  const password = 'fixture password';
  const registered = await call<{ id: string }>(server.app, 'POST', '/api/auth/register', { body: { username, password } });
  expect(registered.status).toBe(201);
  const login = await call<{ accessToken: string }>(server.app, 'POST', '/api/auth/login', { body: { username, password } });
  expect(login.status).toBe(200);
  fixture = { id: registered.body.id, username, password, accessToken: login.body.accessToken };

  const key = new TextEncoder().encode(server.config.JWT_SECRET);
  const issuer = server.config.JWT_ISSUER;
  const now = Math.floor(Date.now() / 1000);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = () => ({ sid: randomUUID(), role: 'user' });
  const signed = (payload: Record<string, unknown>, alg = 'HS256') =>
    new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).setSubject(fixture.id).setJti(randomUUID());
  const [head, body, signature] = fixture.accessToken.split('.') as [string, string, string];
  forgedTokens = [
    // Signed with another secret.
    await signed(claims()).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(64))),
    // The right secret, but each with one defect.
    await signed(claims()).setIssuer('not-laneq').setIssuedAt().setExpirationTime('5m').sign(key),
    await signed(claims()).setIssuer(issuer).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(key),
    await signed(claims()).setIssuer(issuer).setIssuedAt().setNotBefore(now + 3600).setExpirationTime(now + 7200).sign(key),
    await signed(claims()).setIssuer(issuer).setIssuedAt().sign(key), // no exp
    await signed({ role: 'user' }).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(key), // no sid
    await signed({ sid: randomUUID(), role: 'root' }).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(key),
    await signed({ sid: 42, role: 'user' }).setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(key),
    await signed(claims(), 'HS512').setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(key),
    await signed(claims(), 'HS384').setIssuer(issuer).setIssuedAt().setExpirationTime('5m').sign(key),
    // alg none, and the real token tampered with.
    `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: fixture.id, sid: randomUUID(), role: 'admin', iss: issuer, exp: now + 600 })}.`,
    `${head}.${b64({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), role: 'admin' })}.${signature}`,
    `${head}.${body}.${signature.slice(0, -2)}`,
    `${head}.${body}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`,
    `${head}.${body}.`,
    `${head}.${body}`,
    `${b64({ alg: 'HS256', typ: 'JWT', crit: ['exp'] })}.${body}.${signature}`,
    `${b64({ alg: 'RS256', typ: 'JWT' })}.${body}.${signature}`,
  ];
});

afterAll(async () => {
  await server?.stop();
});

describe('auth endpoints refuse seeded malformed requests with 4xx catalogue errors', () => {
  for (const plan of PLANS) {
    it(`${plan.name}: ${CASES_PER_ENDPOINT} malformed requests (seed ${SEED})`, async () => {
      const failures: string[] = [];
      const credentials: { username: string; password: string }[] = [];
      let sent = 0;
      for (let index = 0; index < CASES_PER_ENDPOINT; index += 1) {
        const fuzzCase = plan.generate(new Rng(mixSeed(SEED, plan.name, index)));
        if (plan.name === 'register') {
          const sentPair = sentCredentials(fuzzCase);
          if (sentPair) credentials.push(sentPair);
        }
        const response = await injectCase(server.app, fuzzCase);
        sent += 1;
        const problem = problemWith(fuzzCase, response.statusCode, response.headers['content-type'], response.body);
        if (problem) failures.push(describeCase(SEED, plan.name, index, fuzzCase, response.statusCode, response.body, problem));
      }
      expect(failures, `${failures.length} of ${sent} answers were wrong:\n${failures.slice(0, 15).join('\n')}`).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(Math.min(500, CASES_PER_ENDPOINT));

      if (plan.name === 'register') {
        // No fuzz request created a user: only the fixture exists...
        const { rows } = await server.pool.query<{ username: string }>('SELECT username FROM users');
        expect(rows.map((row) => row.username), `FUZZ_SEED=${SEED}`).toEqual([fixture.username]);
        // ...and none of the credentials sent logs in. The ones that were the right shape apart
        // from their encoding or content type come first: those are the ones a bug would let in.
        const loginShaped = credentials.filter((c) => Value.Check(LoginBody, c));
        const dangerous = loginShaped.filter((c) => Value.Check(Credentials, c));
        const sample = [...new Map([...dangerous, ...loginShaped].map((c) => [c.username, c])).values()].slice(0, 20);
        expect(sample.length).toBeGreaterThan(5);
        for (const { username, password } of sample) {
          const login = await call(server.app, 'POST', '/api/auth/login', { body: { username, password } });
          expect(login.status, `FUZZ_SEED=${SEED} login as ${JSON.stringify(username).slice(0, 80)}`).toBe(401);
        }
      }
      await expectLive(server.app, SEED);
    });
  }

  it('login with a NUL character in the username is a wrong credential, not a 500', async () => {
    for (const username of ['a\u0000b', '\u0000', `${fixture.username}\u0000`]) {
      const login = await call(server.app, 'POST', '/api/auth/login', { body: { username, password: fixture.password } });
      expect(login.status, JSON.stringify(username)).toBe(401);
      expect(login.body).toMatchObject({ error: { code: 'invalid_credentials' } });
    }
  });

  it('leaves the process healthy: live, prototypes clean, and the fixture session still valid', async () => {
    await expectLive(server.app, SEED);
    expect(({} as Record<string, unknown>).polluted, 'Object.prototype was polluted').toBeUndefined();
    expect(({} as Record<string, unknown>).role).toBeUndefined();
    // No malformed logout went through: the fixture's token still works.
    const me = await call(server.app, 'GET', '/api/auth/me', { token: fixture.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: fixture.id, username: fixture.username });
  });
});

// ---------------------------------------------------------------------------------------------
// The same over a real socket, for the nastiest cases: Node's HTTP parser and Fastify's body
// reader see the bytes exactly as a client sends them (Content-Length or chunked).

interface SocketAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

function sendOverSocket(fuzzCase: FuzzCase, chunked: boolean): Promise<SocketAnswer> {
  return new Promise((resolve, reject) => {
    const payload = fuzzCase.payload === undefined ? undefined : Buffer.from(fuzzCase.payload);
    const headers: FuzzHeaders = { ...fuzzCase.headers };
    if (payload !== undefined && !chunked) headers['content-length'] = String(payload.length);
    let answered = false;
    const req = httpRequest(new URL(fuzzCase.url, server.url), { method: fuzzCase.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        answered = true;
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    // The server may answer (413, 401) and close before the whole body is written: that is fine.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (payload === undefined) {
      req.end();
    } else if (chunked) {
      for (let at = 0; at < payload.length; at += 64 * 1024) req.write(payload.subarray(at, at + 64 * 1024));
      req.end();
    } else {
      req.end(payload);
    }
  });
}

function socketCases(): { fuzzCase: FuzzCase; chunked: boolean }[] {
  const rng = new Rng(mixSeed(SEED, 'socket'));
  const out: { fuzzCase: FuzzCase; chunked: boolean }[] = [];
  const forBody = (endpoint: BodyEndpoint, category: Category, chunked = false) => {
    const body = bodyCase(endpoint, rng, category);
    const headers: FuzzHeaders = body.contentType === undefined ? {} : { 'content-type': body.contentType };
    const payload = body.payload === undefined ? {} : { payload: body.payload };
    out.push({ fuzzCase: { label: body.label, method: 'POST', url: endpoint.path, headers, ...payload, expect: body.expect }, chunked });
  };
  for (const endpoint of BODY_ENDPOINTS) {
    for (let i = 0; i < 5; i += 1) forBody(endpoint, 'invalid-utf8');
    forBody(endpoint, 'oversize');
    forBody(endpoint, 'oversize', true);
    forBody(endpoint, 'deep-nesting');
    forBody(endpoint, 'deep-nesting', true);
    forBody(endpoint, 'content-type');
    forBody(endpoint, 'content-type');
    forBody(endpoint, 'proto-key');
    forBody(endpoint, 'not-json');
  }
  for (const [method, path] of [['POST', '/api/auth/logout'], ['GET', '/api/auth/me']] as const) {
    for (const category of ['invalid-utf8', 'oversize', 'deep-nesting', 'content-type', 'not-json'] as const) {
      const body = bodyCase(rng.pick(BODY_ENDPOINTS), rng, category);
      const headers: FuzzHeaders = { authorization: rng.pick(['Bearer a.b', `Bearer ${rng.pick(forgedTokens)}`, 'Basic Zm9vOmJhcg==']) };
      if (body.contentType !== undefined) headers['content-type'] = body.contentType;
      const payload = body.payload === undefined ? {} : { payload: body.payload };
      const fuzzCase: FuzzCase = { label: `bogus-token + ${body.label}`, method, url: path, headers, ...payload, expect: ['unauthorized'] };
      out.push({ fuzzCase, chunked: false });
    }
  }
  for (let i = 0; i < 4; i += 1) {
    const fuzzCase = authenticatedLogoutCase(rng);
    out.push({ fuzzCase, chunked: i % 2 === 1 });
  }
  return out;
}

describe('over a real socket', () => {
  it('the nastiest cases answer 4xx catalogue errors too', async () => {
    const cases = socketCases();
    expect(cases.length).toBeGreaterThanOrEqual(50);
    const failures: string[] = [];
    for (const [index, { fuzzCase, chunked }] of cases.entries()) {
      const answer = await sendOverSocket(fuzzCase, chunked);
      const problem = problemWith(fuzzCase, answer.status, answer.contentType, answer.text);
      if (problem) failures.push(describeCase(SEED, `socket${chunked ? ' chunked' : ''}`, index, fuzzCase, answer.status, answer.text, problem));
    }
    expect(failures, failures.join('\n')).toEqual([]);
    const live = await fetch(new URL('/health/live', server.url));
    expect(live.status).toBe(200);
    const me = await fetch(new URL('/api/auth/me', server.url), { headers: { authorization: `Bearer ${fixture.accessToken}` } });
    expect(me.status, 'the fixture session survived the socket pass').toBe(200);
  });

  // Headers over Node's 16 KiB limit are refused by Node's parser before Fastify sees the request;
  // answerClientError (src/api/errors.ts) still answers in the catalogue's shape.
  it('a header over 16 KiB answers a catalogue error', async () => {
    const fuzzCase: FuzzCase = {
      label: 'authorization header of 20 KB',
      method: 'GET',
      url: '/api/auth/me',
      headers: { authorization: `Bearer ${'a'.repeat(20_000)}` },
      expect: ['headers_too_large'],
    };
    const answer = await sendOverSocket(fuzzCase, false);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(problemWith(fuzzCase, answer.status, answer.contentType, answer.text)).toBeUndefined();
  });
});
