/**
 * The web console (src/web) in a real browser (Debian's Chromium via playwright-core) against a
 * real server, Redis and PostgreSQL: sign up, log in, enqueue, watch statuses change live, read a
 * request, cancel, dequeue, log out; an administrator retrying a dead letter; a phone-width
 * screen; no token in web storage. The console is built first when dist/web is missing or older
 * than its sources, so `npm test` works on a fresh clone without `npm run build`.
 * Screenshots go to a temporary directory, or to docs/img with UPDATE_SCREENSHOTS=1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendError, toAppError } from '../../src/api/errors.js';
import { registerWebConsole, WEB_CONSOLE_DIR } from '../../src/api/web-console.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { UserStore } from '../../src/auth/users.js';
import { createClient } from '../../src/client/index.js';
import { API_HANDLERS_MODULE } from '../helpers/api-handlers.js';
import { startTestServer, type TestServer } from '../helpers/context.js';
import { eventually } from '../helpers/engine.js';
import { freshUsername } from '../helpers/http.js';

const PASSWORD = 'console test password';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/img' : mkdtempSync(join(tmpdir(), 'laneq-console-'));
const DESKTOP = { width: 1100, height: 800 };

/** The newest modification time under `dir` (recursively). */
function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? newest(path) : statSync(path).mtimeMs;
    }),
  );
}

/** Builds the console (as `npm run build` does) unless dist/web is newer than its sources. */
function buildConsoleIfStale(): void {
  const built = (() => {
    try {
      return statSync(join(WEB_CONSOLE_DIR, 'index.html')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  if (built > Math.max(newest('src/web'), newest('src/client'))) return;
  execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'src/web', '--logLevel', 'warn'], { stdio: 'inherit' });
}

let server: TestServer;
let browser: Browser;
/** Problems the pages reported: uncaught exceptions and Content-Security-Policy refusals. */
const pageProblems: string[] = [];

beforeAll(async () => {
  buildConsoleIfStale();
  mkdirSync(SHOTS, { recursive: true });
  server = await startTestServer({ HANDLERS: API_HANDLERS_MODULE });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (SHOTS !== 'docs/img') rmSync(SHOTS, { recursive: true, force: true });
});

async function newPage(viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: 'light' });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageProblems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) pageProblems.push(`console: ${message.text()}`);
  });
  return { context, page };
}

async function logIn(page: Page, username: string): Promise<void> {
  await page.goto(`${server.url}/#/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  // Enter submits, as for any keyboard user.
  await page.getByLabel('Password').press('Enter');
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('My queue');
}

/**
 * Records, in the page, every status each request row shows, in order. Mutation records carry
 * the value an attribute had before each change, so a status shown only briefly is still seen.
 */
const RECORD_STATUSES = `(() => {
  const log = (window.statusLog = []);
  const last = new Map();
  const note = (id, status) => {
    if (id && status && last.get(id) !== status) { last.set(id, status); log.push([id, status]); }
  };
  const noteAll = () => document.querySelectorAll('tr[data-id]').forEach((row) => note(row.dataset.id, row.dataset.status));
  noteAll();
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'attributes') note(record.target.dataset.id, record.oldValue);
    }
    noteAll();
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'], attributeOldValue: true });
})()`;

type StatusLog = [id: string, status: string][];

/** Enqueues through the form and answers the new request's id (from the confirmation's link). */
async function enqueueSleep(page: Page, ms: number): Promise<string> {
  await page.getByLabel('Type').selectOption('sleep');
  await page.getByLabel('Payload (JSON, optional)').fill(JSON.stringify({ ms }));
  const confirmation = page.locator('.accepted a');
  const before = (await confirmation.count()) > 0 ? await confirmation.getAttribute('href') : null;
  await page.getByRole('button', { name: 'Enqueue' }).click();
  await expect.poll(() => page.locator('.accepted a').getAttribute('href')).not.toBe(before);
  const link = (await page.locator('.accepted a').getAttribute('href')) ?? '';
  return decodeURIComponent(link.replace('#/requests/', ''));
}

/** The requests sorted by when they finished, as the API says. */
async function inFinishOrder(ids: string[], token: string): Promise<string[]> {
  const finished = await Promise.all(
    ids.map(async (id) => {
      const response = await fetch(`${server.url}/api/queue/requests/${id}`, { headers: { authorization: `Bearer ${token}` } });
      return { id, at: Date.parse(((await response.json()) as { finishedAt: string }).finishedAt) };
    }),
  );
  return finished.sort((a, b) => a.at - b.at).map(({ id }) => id);
}

async function countOf(page: Page, name: string): Promise<string | null> {
  return page.locator(`[data-count="${name}"] dd`).textContent();
}

describe('serving', () => {
  it('serves the console with a strict CSP, and leaves the API, health, docs and JSON 404s alone', async () => {
    const home = await fetch(`${server.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/text\/html/);
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await home.text();
    expect(html).not.toMatch(/https?:\/\//);
    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect((await fetch(`${server.url}${asset}`)).headers.get('cache-control')).toContain('immutable');

    const unknown = await fetch(`${server.url}/api/no-such-thing`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    expect((await fetch(`${server.url}/no/such/page`)).status).toBe(404);
    expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(200);
    expect((await fetch(`${server.url}/docs`)).status).toBeLessThan(400);
  });

  it('answers / with a JSON 404 saying how to build the console when it is not built', async () => {
    const app = Fastify();
    app.setErrorHandler((error, request, reply) => sendError(reply, toAppError(error as Error, request)));
    const empty = mkdtempSync(join(tmpdir(), 'laneq-unbuilt-'));
    await registerWebConsole(app, empty);
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { code: 'not_found', message: 'The web console is not built: run `npm run build`.' } });
    await app.close();
    rmSync(empty, { recursive: true });
  });
});

/** Signs up through the form, fails one login, then logs in. */
async function signUpAndLogIn(page: Page, username: string): Promise<void> {
  await page.goto(`${server.url}/`);
  await page.getByRole('link', { name: 'Sign up' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Account created');
  await page.screenshot({ path: join(SHOTS, 'console-login.png') });
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toBe('Unknown username or wrong password.');
  await logIn(page, username);
}

/** The payload is checked before sending, and the server's own error shows next to the field. */
async function checkPayloadErrors(page: Page): Promise<void> {
  const payload = page.getByLabel('Payload (JSON, optional)');
  await page.getByLabel('Type').selectOption('sleep');
  await payload.fill('{"ms": 5');
  await page.getByRole('button', { name: 'Enqueue' }).click();
  expect(await page.locator('#payload-error').textContent()).toMatch(/^Not valid JSON/);
  expect(await payload.getAttribute('aria-invalid')).toBe('true');
  await payload.fill('{"ms": -1}');
  await page.getByRole('button', { name: 'Enqueue' }).click();
  await expect.poll(() => page.locator('#payload-error').textContent()).toContain('The payload does not match the schema of type "sleep"');
  expect(await page.locator('#payload-error').textContent()).toContain('payload.ms must be >= 0');
}

/**
 * Enqueues three sleeps and a fourth that is cancelled behind them (the first runs long enough
 * for that), waits for all to end, and answers their ids with every status each row showed.
 */
async function runFourRequests(page: Page): Promise<{ ids: string[]; cancelled: string; log: StatusLog }> {
  await page.evaluate(RECORD_STATUSES);
  const ids = [await enqueueSleep(page, 1_500), await enqueueSleep(page, 300), await enqueueSleep(page, 300)];
  const cancelled = await enqueueSleep(page, 100);
  await page.getByRole('button', { name: `Cancel request ${cancelled.slice(-8)}` }).click();
  await expect.poll(() => page.locator(`tr[data-id="${cancelled}"]`).getAttribute('data-status')).toBe('cancelled');
  await page.screenshot({ path: join(SHOTS, 'console-queue.png'), fullPage: true });
  await expect.poll(() => page.locator(`tr[data-id="${ids[2]}"]`).getAttribute('data-status'), { timeout: 15_000 }).toBe('succeeded');
  await expect.poll(() => countOf(page, 'succeeded')).toBe('3');
  expect([await countOf(page, 'pending'), await countOf(page, 'running'), await countOf(page, 'cancelled')]).toEqual(['0', '0', '1']);
  return { ids, cancelled, log: (await page.evaluate('window.statusLog')) as StatusLog };
}

async function checkDetail(page: Page, id: string): Promise<void> {
  await page.getByRole('link', { name: `Request ${id}` }).click();
  await expect.poll(() => page.locator('article.detail').getAttribute('data-status')).toBe('succeeded');
  expect(await page.getByLabel('Payload', { exact: true }).textContent()).toBe(JSON.stringify({ ms: 1_500 }, null, 2));
  expect(await page.getByLabel('Result', { exact: true }).textContent()).toBe(JSON.stringify({ sleptMs: 1_500 }, null, 2));
  expect(await page.locator('.facts').textContent()).toContain('Attempts1 of 3');
  expect(await page.locator('.facts time').count()).toBe(3);
  await page.screenshot({ path: join(SHOTS, 'console-detail.png'), fullPage: true });
  await page.getByRole('link', { name: '← My queue' }).click();
}

/** Clicks "Dequeue next result" `count` times; answers the ids handed out, then checks none is left. */
async function dequeueAll(page: Page, count: number): Promise<string[]> {
  const dequeued: string[] = [];
  const shown = page.locator('[data-dequeued]');
  for (let i = 0; i < count; i += 1) {
    const previous = i === 0 ? null : await shown.getAttribute('data-dequeued');
    await page.getByRole('button', { name: 'Dequeue next result' }).click();
    await expect.poll(() => shown.getAttribute('data-dequeued')).not.toBe(previous);
    dequeued.push((await shown.getAttribute('data-dequeued')) ?? '');
  }
  await page.getByRole('button', { name: 'Dequeue next result' }).click();
  await expect.poll(() => page.locator('.dequeued').textContent(), { timeout: 10_000 }).toBe('Nothing finished is waiting.');
  return dequeued;
}

/** A phone-width screen: no horizontal scrolling on the queue or on a request's page. */
async function checkPhone(username: string, id: string): Promise<void> {
  const { context, page } = await newPage({ width: 375, height: 740 });
  await logIn(page, username);
  await expect.poll(() => page.locator('tr[data-id]').count()).toBe(4);
  const overflow = () => page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  expect(await overflow()).toBe(0);
  await page.screenshot({ path: join(SHOTS, 'console-phone.png'), fullPage: true });
  await page.getByRole('link', { name: `Request ${id}` }).click();
  await expect.poll(() => page.locator('article.detail').count()).toBe(1);
  expect(await overflow()).toBe(0);
  await context.close();
}

describe('a user in the browser', () => {
  it('signs up, logs in, enqueues and watches its requests run in order, cancels, dequeues and logs out', async () => {
    const { context, page } = await newPage();
    const username = freshUsername('web');
    const tokens = new Set<string>();
    page.on('request', (request) => {
      const header = request.headers().authorization;
      if (header?.startsWith('Bearer ')) tokens.add(header.slice('Bearer '.length));
    });

    await signUpAndLogIn(page, username);
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await expect.poll(() => page.locator('.live').textContent()).toContain('Live');
    // The page's heading has focus; Tab reaches the first control, and focus is visibly outlined.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('[document.activeElement.id, getComputedStyle(document.activeElement).outlineStyle]')).toEqual([
      'type',
      'solid',
    ]);
    await checkPayloadErrors(page);

    // Each row went queued → running → succeeded without a reload, the three one after another.
    const { ids, cancelled, log } = await runFourRequests(page);
    const statusesOf = (id: string) => log.filter(([seen]) => seen === id).map(([, status]) => status);
    for (const id of ids) expect(statusesOf(id), id).toEqual(['queued', 'running', 'succeeded']);
    expect(statusesOf(cancelled)).toEqual(['queued', 'cancelled']);
    const when = (id: string, status: string) => log.findIndex(([seen, shown]) => seen === id && shown === status);
    for (const status of ['running', 'succeeded']) {
      const order = ids.map((id) => when(id, status));
      expect(order, status).toEqual([...order].sort((a, b) => a - b));
    }

    await checkDetail(page, ids[0] as string);
    // Results come out in the order the requests finished: the cancelled one first, unless the
    // browser was too slow to cancel it before the first request ended.
    const dequeued = await dequeueAll(page, 4);
    expect(dequeued.filter((id) => id !== cancelled)).toEqual(ids);
    expect(dequeued).toEqual(await inFinishOrder([...ids, cancelled], [...tokens].at(-1) as string));

    // The tokens stay in memory: nothing in web storage or cookies.
    expect(tokens.size).toBeGreaterThan(0);
    const stored = await page.evaluate('JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])');
    expect(stored).toBe('[[],[],""]');
    await checkPhone(username, ids[1] as string);

    // Logging out revokes the session on the server.
    await page.getByRole('button', { name: 'Log out' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Log in');
    for (const token of tokens) {
      expect((await fetch(`${server.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    }
    await context.close();
    expect(pageProblems).toEqual([]);
  }, 90_000);
});

describe('an administrator in the browser', () => {
  it('sees the queue totals and retries a dead letter', async () => {
    // A request that fails its only attempt (fail_first succeeds when tried again).
    const user = createClient({ baseUrl: server.url });
    const username = freshUsername('webuser');
    await user.register(username, PASSWORD);
    await user.login(username, PASSWORD);
    const doomed = await user.enqueue({ type: 'fail_first', maxAttempts: 1 });
    expect((await user.waitFor(doomed.id)).status).toBe('failed');
    // …and some pending work, for the totals and the deepest queues: another client's, behind a
    // sleep long enough to outlast the browser's start and log-in on a busy machine, so that it
    // is still pending when the page reads it and the retried dead letter does not wait behind it.
    const busy = createClient({ baseUrl: server.url });
    const busyName = freshUsername('webbusy');
    await busy.register(busyName, PASSWORD);
    await busy.login(busyName, PASSWORD);
    await busy.enqueue([{ type: 'sleep', payload: { ms: 15_000 } }, { type: 'noop' }, { type: 'noop' }]);

    const adminName = freshUsername('webadmin');
    await new UserStore(server.pool).upsertAdmin(adminName, await hashPassword(PASSWORD));
    const { context, page } = await newPage();
    await logIn(page, adminName);
    await page.getByRole('link', { name: 'Admin' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Administration');
    await expect.poll(() => countOf(page, 'pending')).not.toBe('…');
    expect(Number(await countOf(page, 'pending'))).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#deepest-title + table tbody tr').count()).toBeGreaterThanOrEqual(1);
    const letter = page.locator(`li[data-id="${doomed.id}"]`);
    await eventually(async () => (await letter.count()) === 1, 10_000);
    expect(await letter.textContent()).toContain('first attempt fails');
    await page.screenshot({ path: join(SHOTS, 'console-admin.png'), fullPage: true });

    await letter.getByRole('button', { name: `Retry request ${doomed.id.slice(-8)}` }).click();
    await expect.poll(() => page.locator('.notice-line').textContent()).toMatch(/is queued again at position \d+/);
    const retried = await user.waitFor(doomed.id, { timeoutMs: 20_000 });
    expect([retried.status, retried.result]).toEqual(['succeeded', { cured: true }]);
    await context.close();
    expect(pageProblems).toEqual([]);
  }, 60_000);
});
