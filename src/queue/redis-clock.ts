import type { RedisClient } from '../redis/connect.js';

/** How long a measured offset is trusted: clocks drift slowly, a restarted Redis host may jump. */
const REMEASURE_AFTER_MS = 60_000;

/**
 * This process's estimate of Redis's clock (ms), from the offset between the two that one TIME
 * round trip measures, taken again every minute. Enqueue deadlines are Redis times (enqueue.lua
 * compares them with TIME), so a host whose own clock is off still sets the right ones; the
 * estimate is good to half a round trip.
 */
export class RedisClock {
  private offsetMs = 0;
  private measuredAt = Number.NEGATIVE_INFINITY;
  private measuring: Promise<void> | undefined;

  constructor(private readonly redis: RedisClient) {}

  async now(): Promise<number> {
    if (Date.now() - this.measuredAt > REMEASURE_AFTER_MS) {
      this.measuring ??= this.measure().finally(() => (this.measuring = undefined));
      await this.measuring;
    }
    return Date.now() + this.offsetMs;
  }

  private async measure(): Promise<void> {
    const sentAt = Date.now();
    const [seconds, micros] = await this.redis.time();
    const receivedAt = Date.now();
    this.offsetMs = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) - (sentAt + receivedAt) / 2;
    this.measuredAt = receivedAt;
  }
}
