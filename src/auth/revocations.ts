import type { RedisClient } from '../redis/connect.js';

/**
 * Revoked session families, in Redis so that every API instance sees a logout at once. An entry
 * lives exactly as long as an access token of that family could still be valid.
 */
export class RevocationList {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
    private readonly accessTtlSeconds: number,
  ) {}

  private key(familyId: string): string {
    return `${this.keyPrefix}:auth:revoked:${familyId}`;
  }

  async revoke(familyId: string): Promise<void> {
    await this.redis.set(this.key(familyId), '1', 'EX', this.accessTtlSeconds);
  }

  async isRevoked(familyId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(familyId))) === 1;
  }
}
