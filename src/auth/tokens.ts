import { randomUUID, webcrypto } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../errors.js';

export type Role = 'user' | 'admin';

export interface AccessClaims {
  /** user id */
  sub: string;
  /** session family id: logout revokes every access token of the family at once */
  sid: string;
  jti: string;
  role: Role;
  iat: number;
  exp: number;
}

/**
 * Tokens verified recently, by their exact text (signature included): a client sends the same
 * access token with every call until it expires, and verifying the HMAC through WebCrypto again
 * cost the API about a fifth of its CPU per authenticated enqueue (bench/README.md). Only a token
 * that passed a full verification is kept, and only until its `exp`; the session's revocation is
 * checked on every call regardless (Redis). lru-cache bounds the memory (about 0.5 KB an entry).
 */
const VERIFIED_TOKENS_KEPT = 10_000;

/** Signs and verifies short-lived HS256 access tokens. Only HS256 is accepted, never `none`. */
export class AccessTokens {
  private readonly verified = new LRUCache<string, Readonly<AccessClaims>>({ max: VERIFIED_TOKENS_KEPT });

  /**
   * Imported once: given the raw secret, jose imports it as a CryptoKey on every sign and verify,
   * which cost the API about 7% of its CPU on authenticated calls (bench/README.md).
   */
  private readonly key: Promise<webcrypto.CryptoKey>;

  constructor(
    secret: string,
    private readonly issuer: string,
    readonly ttlSeconds: number,
  ) {
    this.key = webcrypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
  }

  async sign(subject: { userId: string; sessionFamilyId: string; role: Role }): Promise<string> {
    // One clock reading for both claims: jose reads the clock separately for each, so across a
    // second boundary exp - iat would be ttlSeconds + 1.
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sid: subject.sessionFamilyId, role: subject.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(subject.userId)
      .setJti(randomUUID())
      .setIssuer(this.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .sign(await this.key);
  }

  async verify(token: string): Promise<AccessClaims> {
    const known = this.verified.get(token);
    // jose refuses a token once now >= exp (no clock tolerance): the same rule applies here.
    if (known !== undefined && Math.floor(Date.now() / 1000) < known.exp) return known;
    try {
      const { payload } = await jwtVerify(token, await this.key, { issuer: this.issuer, algorithms: ['HS256'] });
      if (!isAccessClaims(payload)) throw new AppError('unauthorized', 'The access token is missing required claims.');
      const claims: Readonly<AccessClaims> = Object.freeze({
        sub: payload.sub,
        sid: payload.sid,
        jti: payload.jti,
        role: payload.role,
        iat: payload.iat,
        exp: payload.exp,
      });
      this.verified.set(token, claims);
      return claims;
    } catch (error) {
      if (error instanceof AppError) throw error;
      const expired = error instanceof errors.JWTExpired;
      throw new AppError('unauthorized', expired ? 'The access token has expired.' : 'The access token is invalid.');
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are checked as UUIDs: they go into database queries typed uuid. */
function isAccessClaims(payload: Record<string, unknown>): payload is AccessClaims & Record<string, unknown> {
  return (
    typeof payload.sub === 'string' &&
    UUID.test(payload.sub) &&
    typeof payload.sid === 'string' &&
    UUID.test(payload.sid) &&
    typeof payload.jti === 'string' &&
    (payload.role === 'user' || payload.role === 'admin') &&
    typeof payload.iat === 'number' &&
    typeof payload.exp === 'number'
  );
}
