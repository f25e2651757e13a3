import { AppError } from '../errors.js';
import { hashPassword, verifyAgainstDecoy, verifyPassword } from './passwords.js';
import type { AuthRateLimits } from './rate-limits.js';
import type { RevocationList } from './revocations.js';
import type { SessionStore } from './sessions.js';
import type { AccessClaims, AccessTokens } from './tokens.js';
import type { User, UserStore } from './users.js';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export interface PublicUser {
  id: string;
  username: string;
  role: User['role'];
}

/** Called when a client logs out, so the queue engine can drop the client's queue once drained. */
export type LogoutListener = (userId: string) => Promise<void>;

/** The authentication use cases; HTTP concerns stay in routes.ts. */
export class AuthService {
  private readonly logoutListeners: LogoutListener[] = [];

  constructor(
    private readonly users: UserStore,
    private readonly sessions: SessionStore,
    private readonly tokens: AccessTokens,
    private readonly revocations: RevocationList,
    private readonly limits: AuthRateLimits,
  ) {}

  onLogout(listener: LogoutListener): void {
    this.logoutListeners.push(listener);
  }

  async register(username: string, password: string, ip: string): Promise<PublicUser> {
    await this.limits.countIp(ip);
    const user = await this.users.create(username, await hashPassword(password));
    return { id: user.id, username: user.username, role: user.role };
  }

  async login(username: string, password: string, ip: string): Promise<TokenPair> {
    await this.limits.countIp(ip);
    await this.limits.assertLoginAllowed(username);
    const user = await this.users.findByUsername(username);
    const valid = user ? await verifyPassword(user.passwordHash, password) : await verifyAgainstDecoy(password);
    if (!user || !valid) {
      await this.limits.countLoginFailure(username);
      throw new AppError('invalid_credentials');
    }
    await this.limits.clearLoginFailures(username);
    const refresh = await this.sessions.open(user.id);
    return this.pair(user, refresh.familyId, refresh.refreshToken);
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const outcome = await this.sessions.rotate(refreshToken);
    if (outcome.kind === 'invalid') throw new AppError('invalid_refresh_token');
    if (outcome.kind === 'reused') {
      await this.revocations.revoke(outcome.userId, outcome.familyId);
      throw new AppError('refresh_token_reused');
    }
    const user = await this.users.findById(outcome.issued.userId);
    if (!user) throw new AppError('invalid_refresh_token');
    return this.pair(user, outcome.issued.familyId, outcome.issued.refreshToken);
  }

  /** Access tokens stop at once (Redis), refresh tokens too (PostgreSQL). */
  async logout(claims: AccessClaims): Promise<void> {
    await this.revocations.revoke(claims.sub, claims.sid);
    await this.sessions.revokeFamily(claims.sid);
    for (const listener of this.logoutListeners) await listener(claims.sub);
  }

  /**
   * The claims of a valid access token, without asking whether its session was logged out: only
   * for a call whose own Redis script checks that (an enqueue, see QueueEngine.enqueue).
   */
  async verifyAccessToken(accessToken: string): Promise<AccessClaims> {
    return this.tokens.verify(accessToken);
  }

  async authenticate(accessToken: string): Promise<AccessClaims> {
    const claims = await this.tokens.verify(accessToken);
    if (await this.revocations.isRevoked(claims.sub, claims.sid)) {
      throw new AppError('unauthorized', 'The session was logged out.');
    }
    return claims;
  }

  async me(claims: AccessClaims): Promise<PublicUser> {
    const user = await this.users.findById(claims.sub);
    if (!user) throw new AppError('unauthorized', 'The user no longer exists.');
    return { id: user.id, username: user.username, role: user.role };
  }

  private async pair(user: User, familyId: string, refreshToken: string): Promise<TokenPair> {
    const accessToken = await this.tokens.sign({ userId: user.id, sessionFamilyId: familyId, role: user.role });
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: this.tokens.ttlSeconds };
  }
}
