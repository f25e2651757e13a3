import { createHash } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations, type Migration } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { dropDatabase, POSTGRES_URL, uniqueName } from '../helpers/context.js';
import { runScript, type Finished } from '../helpers/process.js';

/** A database nobody has created yet: the migration CLIs must create and migrate it. */
const DATABASE_URL = `${POSTGRES_URL}/${uniqueName('laneq_m')}`;
let migrations: Migration[];
let results: Finished[];
let pool: pg.Pool;

beforeAll(async () => {
  migrations = await readMigrations();
  // Both started before either is awaited, so they race to create and migrate the database.
  results = await Promise.all([1, 2].map(() => runScript('src/db/migrate-cli.ts', [], { env: { DATABASE_URL } })));
  pool = createPool(DATABASE_URL, 2, () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await dropDatabase(DATABASE_URL);
});

describe('two processes migrating one fresh database at once', () => {
  it('both succeed, and exactly one of them applied the migrations', () => {
    for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    const versions = migrations.map((migration) => migration.version).join(', ');
    expect(results.map((result) => result.stdout.trim()).sort()).toEqual([
      `applied migrations: ${versions}`,
      'database is up to date',
    ]);
  });

  it('records each migration exactly once, with its checksum', async () => {
    const { rows } = await pool.query<{ version: number; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations ORDER BY version',
    );
    expect(rows).toEqual(migrations.map(({ version, checksum }) => ({ version, checksum })));
  });

  it('created the users and sessions tables', async () => {
    const { rows } = await pool.query<{ users: string | null; sessions: string | null }>(
      "SELECT to_regclass('public.users')::text AS users, to_regclass('public.sessions')::text AS sessions",
    );
    expect(rows[0]).toEqual({ users: 'users', sessions: 'sessions' });
  });

  it('applies nothing when run again', async () => {
    expect(await migrate(pool, migrations)).toEqual([]);
  });
});

describe('an applied migration that was changed afterwards', () => {
  it('is refused, and nothing is applied', async () => {
    const [first, ...rest] = migrations as [Migration, ...Migration[]];
    const sql = `${first.sql}\nCREATE TABLE sneaked_in (id integer);\n`;
    const tampered = { ...first, sql, checksum: createHash('sha256').update(sql).digest('hex') };

    await expect(migrate(pool, [tampered, ...rest])).rejects.toThrow(/was changed after it was applied/);
    const { rows } = await pool.query("SELECT to_regclass('public.sneaked_in') AS found");
    expect(rows[0]).toEqual({ found: null });
  });

  it('is refused even when only the checksum differs', async () => {
    const changed = migrations.map((migration) => ({ ...migration, checksum: migration.checksum.replace(/^./, (c) => (c === '0' ? '1' : '0')) }));
    await expect(migrate(pool, changed)).rejects.toThrow(/was changed after it was applied/);
  });
});
