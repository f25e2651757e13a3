/** `npm run migrate`: creates the database if needed and applies pending migrations. */
import { ConfigError, loadConfig } from '../config.js';
import { migrate } from './migrate.js';
import { createPool, ensureDatabase } from './pool.js';

try {
  const config = loadConfig();
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, 1, () => undefined);
  const applied = await migrate(pool);
  await pool.end();
  console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database is up to date');
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
