/**
 * Extra request types for worker processes started by the tests (HANDLERS=./tests/helpers/worker-handlers.ts):
 * `whoami` tells which process ran it, `hang` runs until the attempt is aborted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HandlerMap } from '../../src/worker/handlers/types.js';

export const WORKER_HANDLERS_MODULE = './tests/helpers/worker-handlers.ts';

export const handlers: HandlerMap = {
  whoami: {
    description: 'Sleeps `ms` (0–100) and returns the pid of the worker process that ran it.',
    schema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['ms'] },
    run: async (payload, { signal }) => {
      const { ms } = payload as { ms: number };
      if (ms > 0) await sleep(ms, undefined, { signal });
      return { pid: process.pid };
    },
  },
  hang: {
    description: 'Never finishes on its own: ends when the attempt is aborted (timeout, lost lease, shutdown).',
    schema: {},
    run: (_payload, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }),
  },
};
