import { randomFillSync } from 'node:crypto';

/**
 * Request ids: UUIDv7 (RFC 9562), increasing within a process even inside one millisecond (the
 * same monotonic counter as the `uuid` package's v7: 31 bits seeded at random each millisecond).
 * Written here rather than taken from `uuid` for one reason: its v7 draws 16 random bytes through
 * `crypto.getRandomValues` for every id, which cost the API about a tenth of its CPU per enqueued
 * request (bench/README.md); these ids take their randomness from a pool refilled 4 KiB at a time.
 */
const POOL_IDS = 256;
const pool = Buffer.alloc(16 * POOL_IDS);
let poolOffset = pool.length;

let lastMs = -1;
let sequence = 0;

function randomBytes16(): Buffer {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 16;
  return pool.subarray(poolOffset - 16, poolOffset);
}

export function newRequestId(now = Date.now()): string {
  const random = randomBytes16();
  let ms = now;
  if (ms > lastMs) {
    sequence = ((random[6] as number) & 0x7f) * 0x1000000 + ((random[7] as number) << 16) + ((random[8] as number) << 8) + (random[9] as number);
    lastMs = ms;
  } else {
    sequence = (sequence + 1) | 0;
    if (sequence === 0) lastMs += 1; // 2^31 ids in one millisecond: borrow the next one
    ms = lastMs;
  }
  const bytes = Buffer.allocUnsafe(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | ((sequence >>> 28) & 0x0f);
  bytes[7] = (sequence >>> 20) & 0xff;
  bytes[8] = 0x80 | ((sequence >>> 14) & 0x3f);
  bytes[9] = (sequence >>> 6) & 0xff;
  bytes[10] = ((sequence << 2) & 0xff) | ((random[10] as number) & 0x03);
  random.copy(bytes, 11, 11, 16);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
