/**
 * A worker process (`src/main.ts`, ROLE=worker) whose start-up fails exits 1 with one fatal log
 * line and claims nothing; one that started stops cleanly on SIGTERM (exit 0).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFixture, eventually, type EngineFixture } from '../helpers/engine.js';
import { takenPort } from '../helpers/process.js';
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
    const taken = await takenPort();
    const client = clientId('startup');
    const [queued] = await fixture.engine.enqueue(client, [req('noop')]);
    try {
      const worker = spawnWorker(fixture.config, { WORKER_METRICS_PORT: String(taken.port), HOST: '127.0.0.1' });
      const exit = await worker.exited;
      expect(exit).toMatchObject({ code: 1, signal: null });
      expect(exit.stdout).toMatch(/"msg":"start-up failed"/);
      expect((await fixture.engine.get(client, queued?.id ?? ''))?.status).toBe('queued');
    } finally {
      await taken.release();
    }
  });

  it('stops on SIGTERM with exit 0 once started', async () => {
    const worker = spawnWorker(fixture.config, { LOG_LEVEL: 'info' });
    const client = clientId('startup-ok');
    const [queued] = await fixture.engine.enqueue(client, [req('noop')]);
    await eventually(async () => {
      worker.assertRunning();
      return (await fixture.engine.get(client, queued?.id ?? ''))?.status === 'succeeded';
    }, 30_000);
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.stdout).toMatch(/"msg":"stopped"/);
  });
});
