/**
 * The `laneq` command line, run as a real process (`node --import tsx src/cli/main.ts`) against a
 * real server (Redis, PostgreSQL, in-process worker): sign-in and the credentials file, a 10,000
 * line JSONL file enqueued and watched to completion, get / dequeue / cancel, and bad input that
 * must end with a one-line message, the documented exit code and no stack trace.
 */
import { mkdtemp, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { freshUsername } from '../helpers/http.js';
import { freePort, runScript, STACK_TRACE, type Finished } from '../helpers/process.js';

const PASSWORD = 'cli test password';
const CLI = 'src/cli/main.ts';

let server: TestServer;
let root: string;

beforeAll(async () => {
  [server, root] = await Promise.all([startTestServer(), mkdtemp(join(tmpdir(), 'laneq-cli-'))]);
});
afterAll(async () => {
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

interface User {
  configDir: string;
  username: string;
}

let configs = 0;
function newConfigDir(): string {
  configs += 1;
  return join(root, `config-${configs}`);
}

function laneq(user: Pick<User, 'configDir'>, args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<Finished> {
  return runScript(CLI, args, {
    env: { LANEQ_URL: server.url, LANEQ_CONFIG_DIR: user.configDir, ...options.env },
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  });
}

function expectOk(result: Finished): Finished {
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
  return result;
}

/** A refusal: the exit code, one line on stderr matching `message`, no stack trace. */
function expectFailure(result: Finished, code: number, message: RegExp): void {
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code, stderr: expect.stringMatching(message) });
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
}

async function signedInUser(): Promise<User> {
  const user = { configDir: newConfigDir(), username: freshUsername('cli') };
  expectOk(await laneq(user, ['register', user.username, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
  expectOk(await laneq(user, ['login', user.username, '--password-stdin'], { stdin: `${PASSWORD}\n` }));
  return user;
}

function json<T>(result: Finished): T {
  return JSON.parse(expectOk(result).stdout) as T;
}

describe('laneq', () => {
  it('registers, logs in (credentials 0600), says who I am and logs out', async () => {
    const user = await signedInUser();
    const file = join(user.configDir, 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { servers: Record<string, { username: string }> };
    expect(stored.servers[server.url.replace(/\/$/, '')]?.username).toBe(user.username);

    expect(expectOk(await laneq(user, ['whoami'])).stdout).toContain(user.username);
    expect(json<{ pending: number }>(await laneq(user, ['status', '--json']))).toMatchObject({ pending: 0, succeeded: 0 });

    // An expired access token is renewed, and the new pair written back: twice in a row, so the
    // second renewal spends the refresh token the first one stored (a stale one would be refused).
    type Stored = { servers: Record<string, { tokens: { accessToken: string; refreshToken: string; expiresAt: number } }> };
    for (let round = 0; round < 2; round += 1) {
      const before = JSON.parse(await readFile(file, 'utf8')) as Stored;
      const session = Object.values(before.servers)[0];
      if (!session) throw new Error('no stored session');
      session.tokens.expiresAt = 0;
      await writeFile(file, JSON.stringify(before), { mode: 0o600 });
      expectOk(await laneq(user, ['status']));
      const after = Object.values((JSON.parse(await readFile(file, 'utf8')) as Stored).servers)[0];
      expect(after?.tokens.refreshToken).not.toBe(session.tokens.refreshToken);
      expect(after?.tokens.expiresAt).toBeGreaterThan(Date.now());
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }

    expect(expectOk(await laneq(user, ['logout'])).stdout).toContain('signed out');
    expectFailure(await laneq(user, ['status']), 3, /^laneq status: not signed in/);
  });

  it('renews an expired token once when several commands run at the same time', async () => {
    // Refresh tokens are single-use and a reused one revokes the session: commands started together
    // (a shell loop with `&`, xargs -P) must share one renewal instead of each spending the token.
    const user = await signedInUser();
    const file = join(user.configDir, 'credentials.json');
    type Stored = { servers: Record<string, { tokens: { refreshToken: string; expiresAt: number } }> };
    const before = JSON.parse(await readFile(file, 'utf8')) as Stored;
    const session = Object.values(before.servers)[0];
    if (!session) throw new Error('no stored session');
    session.tokens.expiresAt = 0;
    await writeFile(file, JSON.stringify(before), { mode: 0o600 });

    const together = await Promise.all(Array.from({ length: 4 }, () => laneq(user, ['status', '--json'])));
    for (const result of together) expect(json<{ pending: number }>(result).pending).toBe(0);
    // The session is still alive afterwards, on the token pair the renewal stored.
    expect(expectOk(await laneq(user, ['whoami'])).stdout).toContain(user.username);
    const after = Object.values((JSON.parse(await readFile(file, 'utf8')) as Stored).servers)[0];
    expect(after?.tokens.refreshToken).not.toBe(session.tokens.refreshToken);
    await expect(stat(`${file}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('enqueues a 9,999-line JSONL file in batches and watches it run to the end', { timeout: 60_000 }, async () => {
    const user = await signedInUser();
    const file = join(root, 'noop.jsonl');
    const lines = Array.from({ length: 9_999 }, (_, i) => (i % 2 === 0 ? 'null' : '{}'));
    await writeFile(file, `${lines.join('\n')}\n`);

    const enqueued = json<{ enqueued: number; ids: string[] }>(await laneq(user, ['enqueue', 'noop', '--file', file, '--json']));
    expect(enqueued.enqueued).toBe(9_999);
    expect(new Set(enqueued.ids).size).toBe(9_999);
    // A last request that takes a while, so that the watch, a process started after this, sees
    // at least its events however fast the file drains (10,000 in all: what Redis keeps per client).
    expectOk(await laneq(user, ['enqueue', 'sleep', '{"ms":3000}']));

    const watched = expectOk(await laneq(user, ['watch', '--until-idle']));
    expect(watched.stderr).toMatch(/idle: 10000 succeeded, 0 failed, 0 cancelled/);
    expect(watched.stdout).toMatch(/ succeeded +attempt 1\n/);

    const stats = json<Record<string, number>>(await laneq(user, ['status', '--json']));
    expect(stats).toMatchObject({ pending: 0, running: 0, succeeded: 10_000, failed: 0, cancelled: 0 });

    const first = enqueued.ids[0] as string;
    const view = json<{ id: string; type: string; status: string; result: unknown }>(await laneq(user, ['get', first, '--json']));
    expect(view).toMatchObject({ id: first, type: 'noop', status: 'succeeded', result: null });
    expect(expectOk(await laneq(user, ['get', first])).stdout).toMatch(/^status +succeeded$/m);

    // The oldest finished request comes out first, once.
    expect(json<{ id: string }>(await laneq(user, ['dequeue', '--json'])).id).toBe(first);
    expect(json<{ id: string }>(await laneq(user, ['dequeue', '--json', '--wait', '1'])).id).toBe(enqueued.ids[1]);
  });

  it('cancels a request queued behind a long sleep, not the running sleep', async () => {
    const user = await signedInUser();
    const sleep = json<{ id: string }>(
      await laneq(user, ['enqueue', 'sleep', '{"ms":60000}', '--max-attempts', '1', '--timeout-ms', '15000', '--json']),
    );
    const echo = expectOk(await laneq(user, ['enqueue', 'echo', '{"hello":"world"}'])).stdout.trim();
    expect(echo).toMatch(/^[0-9a-f-]{36}$/);

    expect(expectOk(await laneq(user, ['cancel', echo])).stdout).toBe(`cancelled ${echo}\n`);
    expect(json<{ status: string }>(await laneq(user, ['get', echo, '--json'])).status).toBe('cancelled');

    let status = 'queued';
    for (let i = 0; i < 20 && status === 'queued'; i += 1) {
      const view = json<{ status: string; maxAttempts: number }>(await laneq(user, ['get', sleep.id, '--json']));
      expect(view.maxAttempts).toBe(1);
      status = view.status;
    }
    expect(status).toBe('running');
    expectFailure(await laneq(user, ['cancel', sleep.id]), 1, /already started.*not_cancellable/);
  });

  it('answers bad input with one clear line, an exit code and no stack trace', async () => {
    const user = await signedInUser();
    const badFile = join(root, 'bad.jsonl');
    await writeFile(badFile, '{"a":1}\n\n{"b":2\n{}\n');
    const refusedFile = join(root, 'refused.jsonl');
    await writeFile(refusedFile, '{"ms":10}\n{"ms":-5}\n');
    // The first batch (lines 1-1,000) goes through; the second is refused at its line 1,001.
    const partFile = join(root, 'part.jsonl');
    await writeFile(partFile, `${'{}\n'.repeat(1_000)}{"unexpected":true}\n{}\n`);
    const anonymous = { configDir: newConfigDir() };
    const deadUrl = `http://127.0.0.1:${await freePort()}`;

    const [payload, line, unknownType, refusedLine, wrongPassword, badWait, missing, unknownId, notSignedIn, unreachable, noPassword, part] =
      await Promise.all([
        laneq(user, ['enqueue', 'echo', '{not json']),
        laneq(user, ['enqueue', 'echo', '--file', badFile]),
        laneq(user, ['enqueue', 'no_such_type', '{}']),
        laneq(user, ['enqueue', 'sleep', '--file', refusedFile]),
        laneq(anonymous, ['login', user.username, '--password-stdin'], { stdin: 'not the password\n' }),
        laneq(user, ['dequeue', '--wait', '99']),
        laneq(user, ['get']),
        laneq(user, ['get', '00000000-0000-7000-8000-000000000000']),
        laneq(anonymous, ['status']),
        laneq(anonymous, ['register', 'someone', '--password-stdin', '--url', deadUrl], { stdin: PASSWORD }),
        laneq(anonymous, ['login', user.username]),
        laneq(user, ['enqueue', 'noop', '--file', partFile]),
      ]);
    expectFailure(payload, 2, /^laneq enqueue: payload: invalid JSON/);
    expectFailure(line, 2, /bad\.jsonl line 3: invalid JSON/);
    expectFailure(unknownType, 1, /no_such_type.*\(unknown_type\)/);
    expectFailure(refusedLine, 1, /refused\.jsonl line 2: .*payload/);
    expectFailure(wrongPassword, 3, /^laneq login: wrong username or password$/m);
    expectFailure(badWait, 2, /--wait must be a whole number from 0 to 30/);
    expectFailure(missing, 2, /missing arguments; usage: laneq get <id>/);
    expectFailure(unknownId, 1, /\(not_found\)/);
    expectFailure(notSignedIn, 3, /not signed in/);
    expectFailure(unreachable, 4, /cannot reach the laneq server/);
    expectFailure(noPassword, 2, /--password-stdin/);
    expectFailure(part, 1, /part\.jsonl line 1001: .*payload.*; the 1000 requests up to line 1000 were enqueued, none after$/m);
    // Nothing else of the refused files was enqueued: only part.jsonl's first batch.
    const stats = json<Record<string, number>>(await laneq(user, ['status', '--json']));
    expect((stats.pending ?? 0) + (stats.running ?? 0) + (stats.succeeded ?? 0)).toBe(1_000);
    expect(stats).toMatchObject({ failed: 0, cancelled: 0 });
  });

  it('shows --help for every command and at the top level', async () => {
    const nobody = { configDir: newConfigDir() };
    const commands = ['register', 'login', 'logout', 'whoami', 'enqueue', 'status', 'get', 'list', 'watch', 'dequeue', 'cancel', 'types'];
    const [top, help, bare, ...each] = await Promise.all([
      laneq(nobody, ['--help']),
      laneq(nobody, ['help', 'enqueue']),
      laneq(nobody, []),
      ...commands.map((command) => laneq(nobody, [command, '--help'])),
    ]);
    for (const command of commands) expect(expectOk(top).stdout).toContain(`  ${command} `);
    expect(expectOk(help).stdout).toContain('Usage: laneq enqueue <type>');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: laneq <command>');
    each.forEach((result, i) => expect(expectOk(result).stdout).toContain(`Usage: laneq ${commands[i]}`));
  });
});
