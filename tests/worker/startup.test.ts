/**
 * A worker process (`src/main.ts`, ROLE=worker) whose start-up fails exits 1 with one fatal log
 * line and claims nothing; one that started stops cleanly on SIGTERM (exit 0).
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFixture, type EngineFixture } from '../helpers/engine.js';
import { clientId, req, spawnWorker } from '../helpers/queue.js';

let fixture: EngineFixture;
beforeAll(async () => {
  fixture = await engineFixture();
});
afterAll(async () => {
  await fixture.cleanup();
});

describe('worker process start-up', () => {
  it('exits 1 when its metrics port is taken, before claiming anything', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const address = taken.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const client = clientId('startup');
    const [queued] = await fixture.engine.enqueue(client, [req('noop')]);
    try {
      const worker = spawnWorker(fixture.config, { WORKER_METRICS_PORT: String(address.port), HOST: '127.0.0.1' });
      const exit = await worker.exited;
      expect(exit).toMatchObject({ code: 1, signal: null });
      expect(exit.stdout).toMatch(/"msg":"start-up failed"/);
      expect((await fixture.engine.get(client, queued?.id ?? ''))?.status).toBe('queued');
    } finally {
      taken.close();
    }
  });

  it('stops on SIGTERM with exit 0 once started', async () => {
    const worker = spawnWorker(fixture.config, { LOG_LEVEL: 'info' });
    const client = clientId('startup-ok');
    const [queued] = await fixture.engine.enqueue(client, [req('noop')]);
    const deadline = Date.now() + 30_000;
    while ((await fixture.engine.get(client, queued?.id ?? ''))?.status !== 'succeeded') {
      worker.assertRunning();
      if (Date.now() > deadline) throw new Error('the worker did not run the request');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.stdout).toMatch(/"msg":"stopped"/);
  });
});
