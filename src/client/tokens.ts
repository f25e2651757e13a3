import { LaneqError } from './errors.js';
import type { TokenPair } from './types.js';

/** The tokens the SDK holds (in memory only; persist them through `onTokens` if you must). */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in epoch milliseconds (client clock). */
  expiresAt: number;
}

export type TokensListener = (tokens: Tokens | undefined) => void;

/**
 * Tokens that other holders (other processes of a command line, other tabs) keep in the same
 * store. A refresh token is single-use and a reused one revokes the session, so a renewal must
 * not race another holder's: it runs under `exclusive` and first looks at what is stored, taking a
 * pair another holder renewed meanwhile instead of spending the old refresh token again.
 */
export interface SharedTokens {
  /** The tokens as stored now, by this holder or another. */
  read(): Tokens | undefined | Promise<Tokens | undefined>;
  /** Runs `renew` while no other holder renews (a lock file, a Web Lock…). */
  exclusive<T>(renew: () => Promise<T>): Promise<T>;
}

export function tokensFrom(pair: TokenPair, now = Date.now()): Tokens {
  return { accessToken: pair.accessToken, refreshToken: pair.refreshToken, expiresAt: now + pair.expiresIn * 1000 };
}

/** How long before expiry the access token is renewed: 10 % of its lifetime, 1–30 s. */
function renewalMargin(lifetimeMs: number): number {
  return Math.min(30_000, Math.max(1_000, lifetimeMs / 10));
}

/**
 * Holds the session's tokens and renews them. Refresh tokens are single-use (a reused one revokes
 * the whole session), so concurrent calls share one refresh in flight, and a call rejected with a
 * token that was renewed meanwhile just retries with the new one.
 */
export class TokenStore {
  private tokens: Tokens | undefined;
  private lifetimeMs = 0;
  private generation = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly exchange: (refreshToken: string) => Promise<TokenPair>,
    private readonly listener?: TokensListener,
    private readonly shared?: SharedTokens,
  ) {}

  get(): Tokens | undefined {
    return this.tokens ? { ...this.tokens } : undefined;
  }

  set(tokens: Tokens | undefined): void {
    this.generation += 1;
    this.tokens = tokens ? { ...tokens } : undefined;
    if (tokens) this.lifetimeMs = Math.max(0, tokens.expiresAt - Date.now());
    this.listener?.(this.get());
  }

  /** The access token to send, renewed first when it is about to expire; undefined when signed out. */
  async accessToken(): Promise<string | undefined> {
    const tokens = this.tokens;
    if (tokens && tokens.expiresAt - renewalMargin(this.lifetimeMs) <= Date.now()) await this.refresh();
    return this.tokens?.accessToken;
  }

  /**
   * After the server refused `rejected`: renews the tokens unless that already happened. Returns
   * whether a retry can help. A refresh the server refuses (401) signs out and throws its error.
   */
  async renewAfterRejection(rejected: string | undefined): Promise<boolean> {
    if (!this.tokens) return false;
    if (this.tokens.accessToken !== rejected) return true;
    await this.refresh();
    return this.tokens !== undefined;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.runRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private runRefresh(): Promise<void> {
    const shared = this.shared;
    if (!shared) return this.renew();
    return shared.exclusive(async () => {
      const stored = await shared.read();
      const held = this.tokens;
      if (held && stored && stored.refreshToken !== held.refreshToken) this.set(stored);
      else await this.renew();
    });
  }

  private async renew(): Promise<void> {
    const tokens = this.tokens;
    if (!tokens) return;
    const generation = this.generation;
    try {
      const pair = await this.exchange(tokens.refreshToken);
      // A login, logout or setTokens meanwhile wins over this older session's renewal.
      if (generation === this.generation) this.set(tokensFrom(pair));
    } catch (error) {
      if (error instanceof LaneqError && error.status === 401 && generation === this.generation) this.set(undefined);
      throw error;
    }
  }
}
