import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimited } from '../errors.js';
import type { RedisClient } from '../redis/connect.js';

export interface AuthRateLimitSettings {
  KEY_PREFIX: string;
  RATE_LIMIT_AUTH_PER_IP: number;
  RATE_LIMIT_LOGIN_FAILURES: number;
  RATE_LIMIT_LOGIN_WINDOW_S: number;
}

/**
 * Counters live in Redis (rate-limiter-flexible's atomic INCR+EXPIRE), so every API instance
 * shares them. Per IP, every register/login call counts; per username, only failed logins count,
 * so an attacker cannot lock a user out without guessing at that user's password.
 */
export class AuthRateLimits {
  private readonly perIp: RateLimiterRedis;
  private readonly loginFailures: RateLimiterRedis;

  constructor(redis: RedisClient, settings: AuthRateLimitSettings) {
    this.perIp = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${settings.KEY_PREFIX}:auth:rl:ip`,
      points: settings.RATE_LIMIT_AUTH_PER_IP,
      duration: 60,
    });
    this.loginFailures = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${settings.KEY_PREFIX}:auth:rl:login`,
      points: settings.RATE_LIMIT_LOGIN_FAILURES,
      duration: settings.RATE_LIMIT_LOGIN_WINDOW_S,
    });
  }

  async countIp(ip: string): Promise<void> {
    await guard(() => this.perIp.consume(ip));
  }

  /** Refuses a login attempt for a username that has used up its failures. */
  async assertLoginAllowed(username: string): Promise<void> {
    const state = await guard(() => this.loginFailures.get(username.toLowerCase()));
    if (state && state.consumedPoints >= this.loginFailures.points) {
      throw rateLimited(state.msBeforeNext);
    }
  }

  async countLoginFailure(username: string): Promise<void> {
    await guard(() => this.loginFailures.penalty(username.toLowerCase()));
  }

  async clearLoginFailures(username: string): Promise<void> {
    await guard(() => this.loginFailures.delete(username.toLowerCase()));
  }
}


/** rate-limiter-flexible rejects with a RateLimiterRes when the limit is hit, or an Error. */
export async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) throw rateLimited(rejection.msBeforeNext);
    throw rejection;
  }
}
