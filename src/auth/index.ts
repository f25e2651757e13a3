import type pg from 'pg';
import type { Config } from '../config.js';
import { KeySpace } from '../queue/keys.js';
import type { RedisClient } from '../redis/connect.js';
import { AuthRateLimits } from './rate-limits.js';
import { RevocationList } from './revocations.js';
import { AuthService } from './service.js';
import { SessionStore } from './sessions.js';
import { AccessTokens } from './tokens.js';
import { UserStore } from './users.js';

export function createAuthService(config: Config, redis: RedisClient, pool: pg.Pool): AuthService {
  return new AuthService(
    new UserStore(pool),
    new SessionStore(pool, config.REFRESH_TOKEN_TTL_S),
    new AccessTokens(config.JWT_SECRET, config.JWT_ISSUER, config.ACCESS_TOKEN_TTL_S),
    new RevocationList(redis, new KeySpace(config.KEY_PREFIX, config.QUEUE_SHARDS), config.ACCESS_TOKEN_TTL_S),
    new AuthRateLimits(redis, config),
  );
}
