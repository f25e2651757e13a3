/**
 * `npm run admin:create -- <username> [--password-stdin]`: creates an administrator, or promotes
 * an existing user. Without --password-stdin a strong password is generated and printed once.
 */
import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { ConfigError, loadConfig } from '../config.js';
import { migrate } from '../db/migrate.js';
import { createPool, ensureDatabase } from '../db/pool.js';
import { hashPassword } from './passwords.js';
import { Password, Username } from './schemas.js';
import { UserStore } from './users.js';
import Value from 'typebox/value';

const USAGE = 'usage: npm run admin:create -- <username> [--password-stdin]';

async function main(args: string[]): Promise<number> {
  const username = args.find((arg) => !arg.startsWith('--'));
  if (!username || !Value.Check(Username, username)) {
    console.error(`${USAGE}\nusername: 3–64 characters of A–Z a–z 0–9 _ . -`);
    return 2;
  }
  const fromStdin = args.includes('--password-stdin');
  const password = fromStdin ? (await text(process.stdin)).replace(/\r?\n$/, '') : randomBytes(18).toString('base64url');
  if (!Value.Check(Password, password)) {
    console.error('password: 8–256 characters');
    return 2;
  }
  const config = loadConfig();
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, 1, () => undefined);
  try {
    await migrate(pool);
    const user = await new UserStore(pool).upsertAdmin(username, await hashPassword(password));
    console.log(`admin ${user.username} (${user.id}) is ready`);
    if (!fromStdin) console.log(`password: ${password}`);
    return 0;
  } finally {
    await pool.end();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `admin:create failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
