/**
 * A tiny seeded generator for fuzz tests: the same seed gives the same requests, so a failure
 * printed with its seed can be replayed exactly (FUZZ_SEED=<seed> npx vitest run <file>). Also the
 * pieces the HTTP fuzz tests share: the case types and the check that an answer is a 4xx
 * catalogue error of the expected code.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js';

/** mulberry32: a 32-bit PRNG, plenty for choosing test inputs (not for anything secret). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes several numbers into one 32-bit seed (FNV-1a over their bytes), e.g. (run seed, case). */
export function mixSeed(...parts: (number | string)[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    const text = String(part);
    for (let i = 0; i < text.length; i += 1) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash ^= 0xff;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The run's seed: FUZZ_SEED when set (to replay a failure), otherwise the given default. */
export function fuzzSeed(fallback: number): number {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv === undefined || fromEnv === '') return fallback >>> 0;
  const seed = Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
  return seed >>> 0;
}

export class Rng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next();
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick() from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [weight, value] of choices) {
      roll -= weight;
      if (roll < 0) return value;
    }
    return (choices[choices.length - 1] as readonly [number, T])[1];
  }

  /** A string of `length` characters drawn from `alphabet`. */
  string(length: number, alphabet = ALPHANUMERIC): string {
    let out = '';
    for (let i = 0; i < length; i += 1) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }

  /** Random bytes, base64 (with + / =), the kind of thing a confused client puts in a header. */
  base64(bytes: number): string {
    const buffer = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 1) buffer[i] = Math.floor(this.next() * 256);
    return buffer.toString('base64');
  }

  base64url(bytes: number): string {
    return this.base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
}

export const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Byte sequences that are not UTF-8: stray continuation bytes, overlong forms, UTF-16 surrogates
 * encoded as UTF-8, code points past U+10FFFF, 5-byte forms, bytes never used, and multi-byte
 * sequences cut short (each followed by an ASCII byte, so they stay invalid inside a string).
 */
export const INVALID_UTF8: readonly (readonly number[])[] = [
  [0x80],
  [0xbf],
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0xfe],
  [0xff],
  [0xff, 0xfe],
  [0xc3, 0x41],
  [0xe2, 0x82, 0x41],
  [0xf0, 0x9f, 0x98, 0x41],
];

/** JSON text with an invalid UTF-8 sequence spliced in at `marker` (which must occur once). */
export function spliceBytes(json: string, marker: string, bytes: readonly number[]): Buffer {
  const at = json.indexOf(marker);
  if (at < 0) throw new Error(`marker ${marker} not in ${json}`);
  return Buffer.concat([
    Buffer.from(json.slice(0, at), 'utf8'),
    Buffer.from(bytes),
    Buffer.from(json.slice(at + marker.length), 'utf8'),
  ]);
}

/** `depth` nested arrays or objects around `inner`, as JSON text (no recursion, any depth). */
export function nested(depth: number, kind: 'array' | 'object', inner = '1'): string {
  return kind === 'array'
    ? '['.repeat(depth) + inner + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}

/** JSON-shaped values of every type but string, for "wrong type" fields. */
export function nonStringValue(rng: Rng): string {
  return rng.pick<() => string>([
    () => String(rng.int(-1_000_000, 1_000_000)),
    () => rng.pick(['0', '-0', '1.5', '-1e308', '1e308', '1e999', '12345678901234567890123', '0.1e-400']),
    () => rng.pick(['true', 'false']),
    () => 'null',
    () => rng.pick(['[]', '[""]', '["alice","correct horse"]', '[null]', '[[[]]]', '[1,2,3]']),
    () => rng.pick(['{}', '{"$gt":""}', '{"$ne":null}', '{"toString":"x"}', '{"length":8}', '{"valueOf":1}']),
    () => nested(rng.int(2, 50), rng.pick(['array', 'object'] as const), '"x"'),
  ])();
}

/** Text that is not JSON at all, or JSON cut short. Never empty or all white space. */
export function notJson(rng: Rng, sample: string): string {
  return rng.pick<() => string>([
    () => sample.slice(0, rng.int(1, Math.max(1, sample.length - 1))),
    () => sample + rng.pick(['}', ']', ',', ' x', '{}', '"']),
    () => rng.pick(['{', '[', '"', '{"', '{"username"', '{"username":', '{"username":}', '{,}', '[,]', '{"a" "b"}']),
    () => rng.pick(["{'username':'alice'}", '{username:"alice"}', '{"a":1,}', '[1,2,]', '{"a":01}', '{"a":.5}']),
    () => rng.pick(['undefined', 'NaN', 'Infinity', '-Infinity', 'True', 'nil', 'None', '0x10', "'x'"]),
    () => rng.pick(['{"a":1} // comment', '/* c */ {}', '{"a":"\\x41"}', '{"a":"\\u12"}', '{"a":"\\q"}', '{"a":"tab\tin string"}']),
    () => rng.pick(['<xml/>', 'username=alice&password=x', '---\nusername: alice', 'SELECT 1;', '\u0000', '\u0000{}']),
    () => `{"a":"${'x'.repeat(rng.int(1, 100))}`,
    () => rng.string(rng.int(1, 200), '{}[]":,0123456789abcdeftrnul \\'),
  ])();
}

// ---------------------------------------------------------------------------------------------
// Cases and answers, shared by the HTTP fuzz tests

export type FuzzHeaders = Record<string, string | string[]>;

/** One malformed request; `Method` narrows the methods a test sends. */
export interface FuzzCase<Method extends string = 'GET' | 'POST' | 'DELETE'> {
  label: string;
  method: Method;
  url: string;
  headers: FuzzHeaders;
  payload?: string | Buffer;
  /** The answer must carry one of these codes, with the catalogue's status for it. */
  expect: readonly ErrorCode[];
}

/** A body, its content type, and the codes the body alone must earn on a JSON route. */
export interface BodyCase {
  label: string;
  payload?: string | Buffer;
  contentType?: string;
  expect: readonly ErrorCode[];
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function hasProtoKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    if (Object.hasOwn(value, '__proto__')) return true;
    for (const child of Object.values(value)) stack.push(child);
  }
  return false;
}

/**
 * What a JSON route answers to body text before its schema sees it: blank text is
 * validation_failed; text that does not parse, or carries a `__proto__` key, is invalid_json.
 * Otherwise the parsed value, for the route's own checks.
 */
export function jsonSyntax(text: string): { expect: ErrorCode[] } | { parsed: unknown } {
  if (text.trim() === '') return { expect: ['validation_failed'] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { expect: ['invalid_json'] };
  }
  if (hasProtoKey(parsed)) return { expect: ['invalid_json'] };
  return { parsed };
}

const CODES = new Set(Object.keys(ERROR_CATALOGUE));

/** Why this answer is wrong for the case, or undefined when it is right. */
export function problemWith(
  fuzzCase: Pick<FuzzCase<string>, 'expect'>,
  status: number,
  contentType: unknown,
  text: string,
): string | undefined {
  if (status < 400 || status > 499) return `status ${status} is not 4xx`;
  if (typeof contentType !== 'string' || !contentType.startsWith('application/json')) return `content-type ${String(contentType)}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  const error = (body as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  if (typeof error !== 'object' || error === null) return 'no error object';
  if (Object.keys(body as object).length !== 1) return 'keys besides "error"';
  const { code, message, details } = error;
  if (typeof code !== 'string' || typeof message !== 'string') return 'code or message is not a string';
  if (Object.keys(error).some((key) => !['code', 'message', 'details'].includes(key))) return 'unknown keys in error';
  if (!CODES.has(code)) return `code ${code} is not in ERROR_CATALOGUE`;
  if (ERROR_CATALOGUE[code as ErrorCode].status !== status) return `status ${status} does not match ${code}`;
  if (!fuzzCase.expect.includes(code as ErrorCode)) return `expected ${fuzzCase.expect.join(' or ')}, got ${code}`;
  if (code === 'validation_failed') {
    const isIssue = (d: unknown) => isObject(d) && typeof d.field === 'string' && typeof d.message === 'string';
    if (!(Array.isArray(details) && details.length > 0 && details.every(isIssue))) return 'validation_failed without a {field, message} list in details';
  }
  return undefined;
}

/** One failure line: the seed to replay it, where it was, the request and the answer. */
export function describeCase(
  seed: number,
  where: string,
  index: number,
  fuzzCase: FuzzCase<string>,
  status: number,
  text: string,
  problem: string,
): string {
  return (
    `FUZZ_SEED=${seed} ${where} case #${index} [${fuzzCase.label}] ${fuzzCase.method} ${fuzzCase.url.slice(0, 80)} ` +
    `→ ${status} ${text.slice(0, 200)}: ${problem}`
  );
}

/** Sends the case through Fastify's inject. */
export function injectCase(app: FastifyInstance, fuzzCase: FuzzCase): Promise<LightMyRequestResponse> {
  const options: InjectOptions = {
    method: fuzzCase.method,
    url: fuzzCase.url,
    headers: fuzzCase.headers,
    ...(fuzzCase.payload === undefined ? {} : { payload: fuzzCase.payload }),
  };
  return app.inject(options);
}

/** The process still answers /health/live (after a fuzz run with this seed). */
export async function expectLive(app: FastifyInstance, seed: number): Promise<void> {
  const live = await app.inject({ method: 'GET', url: '/health/live' });
  expect(live.statusCode, `FUZZ_SEED=${seed} /health/live after fuzzing`).toBe(200);
}
