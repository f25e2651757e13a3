/**
 * A tiny seeded generator for fuzz tests: the same seed gives the same requests, so a failure
 * printed with its seed can be replayed exactly (FUZZ_SEED=<seed> npx vitest run <file>).
 */

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
