import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { renderEnvExample, renderReadmeTable } from '../../src/config-docs.js';
import { PROJECT_ROOT, runScript, STACK_TRACE } from '../helpers/process.js';

/** The ConfigError that loadConfig throws for `env`; fails the test if it does not throw one. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

const SECRET_32 = 'x'.repeat(32);

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      HOST: '127.0.0.1',
      REDIS_URL: 'redis://127.0.0.1:6379',
      DATABASE_URL: 'postgres://root@127.0.0.1:5432/laneq',
      KEY_PREFIX: 'laneq',
      LOG_LEVEL: 'info',
      ACCESS_TOKEN_TTL_S: 900,
      TRUST_PROXY: false,
    });
  });

  it('generates a random secret when JWT_SECRET is unset outside production, and says so', () => {
    const a = loadConfig({});
    const b = loadConfig({});
    expect(a.jwtSecretGenerated).toBe(true);
    expect(a.JWT_SECRET.length).toBeGreaterThanOrEqual(32);
    expect(a.JWT_SECRET).not.toBe(b.JWT_SECRET);
    expect(loadConfig({ JWT_SECRET: SECRET_32 })).toMatchObject({ JWT_SECRET: SECRET_32, jwtSecretGenerated: false });
  });

  it('converts numbers and booleans from their text form', () => {
    expect(loadConfig({ PORT: '8080', TRUST_PROXY: 'true' })).toMatchObject({ PORT: 8080, TRUST_PROXY: true });
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
    expect(config.PORT).toBe(3000);
  });

  it('reports every bad variable at once in one ConfigError', () => {
    const bad = {
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://127.0.0.1:6379',
      DATABASE_POOL_SIZE: '0',
      KEY_PREFIX: 'has spaces',
      NODE_ENV: 'staging',
    };
    const { problems } = configError(bad);
    for (const name of Object.keys(bad)) {
      expect(problems.some((problem) => problem.startsWith(`${name}:`)), `${name} in ${problems.join('; ')}`).toBe(true);
    }
  });

  it('requires JWT_SECRET in production', () => {
    const { problems } = configError({ NODE_ENV: 'production' });
    expect(problems).toEqual([expect.stringMatching(/^JWT_SECRET: /)]);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET_32 }).NODE_ENV).toBe('production');
  });

  it('refuses a JWT_SECRET shorter than 32 characters', () => {
    const { problems } = configError({ JWT_SECRET: 'x'.repeat(31) });
    expect(problems).toEqual([expect.stringMatching(/^JWT_SECRET: .*32/)]);
  });
});

describe('the entry point with a bad configuration', () => {
  it('exits with code 1 and names every bad variable on stderr, without a stack trace', async () => {
    const result = await runScript('src/main.ts', [], { env: { PORT: 'abc', LOG_LEVEL: 'loud' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^Invalid configuration/);
    expect(result.stderr).toMatch(/PORT/);
    expect(result.stderr).toMatch(/LOG_LEVEL/);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });
});

describe('configuration docs', () => {
  it('.env.example is what the schema renders', async () => {
    expect(await readFile(join(PROJECT_ROOT, '.env.example'), 'utf8')).toBe(renderEnvExample());
  });

  it('README.md contains the table the schema renders', async () => {
    expect(await readFile(join(PROJECT_ROOT, 'README.md'), 'utf8')).toContain(renderReadmeTable());
  });
});
