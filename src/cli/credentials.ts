/**
 * Where the CLI keeps its sessions: `credentials.json` in the user's config directory
 * ($LANEQ_CONFIG_DIR, else $XDG_CONFIG_HOME/laneq, else ~/.config/laneq), readable by the user
 * only (directory 0700, file 0600). Sessions are keyed by server URL, so a token is never sent to
 * a server other than the one that issued it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import type { Tokens } from '../client/index.js';

export interface Session {
  username: string;
  tokens: Tokens;
}

interface CredentialsFile {
  version: 1;
  servers: Record<string, Session>;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LANEQ_CONFIG_DIR) return env.LANEQ_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'laneq');
}

function isSession(value: unknown): value is Session {
  const session = value as Partial<Session> | undefined;
  const tokens = session?.tokens as Partial<Tokens> | undefined;
  return (
    typeof session?.username === 'string' &&
    typeof tokens?.accessToken === 'string' &&
    typeof tokens.refreshToken === 'string' &&
    typeof tokens.expiresAt === 'number'
  );
}

export class CredentialStore {
  readonly path: string;

  constructor(private readonly dir: string = configDir()) {
    this.path = join(dir, 'credentials.json');
  }

  private read(): CredentialsFile {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as Partial<CredentialsFile>;
      const servers: Record<string, Session> = {};
      for (const [url, session] of Object.entries(parsed.servers ?? {})) if (isSession(session)) servers[url] = session;
      return { version: 1, servers };
    } catch {
      // A damaged file holds nothing usable; the next login rewrites it.
      return { version: 1, servers: {} };
    }
  }

  /**
   * Replaces the file at once (temporary file + rename), created 0600 so the tokens are never
   * readable by others, not even for a moment. Synchronous: a refreshed token is on disk before
   * anything else happens (refresh tokens are single-use; losing the new one ends the session).
   */
  private write(file: CredentialsFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (Object.keys(file.servers).length === 0) {
      rmSync(this.path, { force: true });
      return;
    }
    const temporary = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600); // in case a umask or an older file got in the way
    renameSync(temporary, this.path);
  }

  /**
   * Runs `work` while no other laneq process does: token renewals of commands started together
   * take turns (a refresh token is single-use; spending it twice revokes the session). The lock is
   * a `credentials.json.lock` directory (proper-lockfile: atomic mkdir, with a stale lock of a
   * killed process taken over after 10 s).
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const release = await lockfile.lock(this.path, {
      realpath: false,
      stale: 10_000,
      retries: { retries: 120, factor: 1.2, minTimeout: 20, maxTimeout: 250 },
    });
    try {
      return await work();
    } finally {
      await release().catch(() => undefined);
    }
  }

  get(url: string): Session | undefined {
    return this.read().servers[url];
  }

  set(url: string, session: Session | undefined): void {
    const file = this.read();
    if (session) file.servers[url] = session;
    else delete file.servers[url];
    this.write(file);
  }
}
