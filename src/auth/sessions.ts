import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';

export interface IssuedRefresh {
  refreshToken: string;
  familyId: string;
  userId: string;
}

export type RotateOutcome =
  | { kind: 'rotated'; issued: IssuedRefresh }
  | { kind: 'reused'; familyId: string; userId: string }
  | { kind: 'invalid' };

/** Only a SHA-256 of each refresh token is stored: a database leak yields no usable token. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Refresh tokens as PostgreSQL rows. A login opens a family; each refresh spends its row and adds
 * the next row to the family. Presenting a spent token means it was copied: the whole family is
 * revoked, so the thief's and the owner's tokens both stop working.
 */
export class SessionStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly ttlSeconds: number,
  ) {}

  open(userId: string): Promise<IssuedRefresh> {
    return this.insert(this.pool, userId, randomUUID());
  }

  async rotate(refreshToken: string): Promise<RotateOutcome> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const outcome = await this.rotateWithin(client, digest(refreshToken));
      await client.query('COMMIT');
      return outcome;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.pool.query({
      name: 'sessions.revoke-family',
      text: 'UPDATE sessions SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
      values: [familyId],
    });
  }

  private async rotateWithin(client: pg.PoolClient, tokenHash: Buffer): Promise<RotateOutcome> {
    const spent = await client.query<{ family_id: string; user_id: string }>({
      name: 'sessions.spend',
      text: `UPDATE sessions SET spent_at = now()
             WHERE token_hash = $1 AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > now()
             RETURNING family_id, user_id`,
      values: [tokenHash],
    });
    const row = spent.rows[0];
    if (row) return { kind: 'rotated', issued: await this.insert(client, row.user_id, row.family_id) };

    const known = await client.query<{ family_id: string; user_id: string; spent_at: Date | null; revoked_at: Date | null }>({
      name: 'sessions.by-hash',
      text: 'SELECT family_id, user_id, spent_at, revoked_at FROM sessions WHERE token_hash = $1',
      values: [tokenHash],
    });
    const previous = known.rows[0];
    if (!previous || previous.spent_at === null) return { kind: 'invalid' };
    await client.query({
      name: 'sessions.revoke-family',
      text: 'UPDATE sessions SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
      values: [previous.family_id],
    });
    return { kind: 'reused', familyId: previous.family_id, userId: previous.user_id };
  }

  private async insert(db: pg.Pool | pg.PoolClient, userId: string, familyId: string): Promise<IssuedRefresh> {
    const refreshToken = randomBytes(32).toString('base64url');
    await db.query({
      name: 'sessions.insert',
      text: `INSERT INTO sessions (id, family_id, user_id, token_hash, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
      values: [randomUUID(), familyId, userId, digest(refreshToken), this.ttlSeconds],
    });
    return { refreshToken, familyId, userId };
  }
}
