import type { KeySpace } from '../queue/keys.js';
import type { RedisClient } from '../redis/connect.js';

/**
 * Revoked session families, in Redis so that every API instance sees a logout at once. An entry
 * lives exactly as long as an access token of that family could still be valid. It sits in its
 * user's queue shard (KeySpace.revokedKey), so that an enqueue checks it inside its own script.
 */
export class RevocationList {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly accessTtlSeconds: number,
  ) {}

  async revoke(userId: string, familyId: string): Promise<void> {
    await this.redis.set(this.keys.revokedKey(userId, familyId), '1', 'EX', this.accessTtlSeconds);
  }

  async isRevoked(userId: string, familyId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.revokedKey(userId, familyId))) === 1;
  }
}
