/**
 * Extra request types for the API tests (HANDLERS=./tests/helpers/api-handlers.ts, imported by path;
 * a .ts module works under vitest): `always_fail` fails every attempt, `fail_first` fails the
 * first attempt a process sees of each request and succeeds afterwards (a dead letter that a
 * retry cures).
 */
import type { HandlerMap } from '../../src/worker/handlers/types.js';

export const API_HANDLERS_MODULE = './tests/helpers/api-handlers.ts';

const seen = new Set<string>();

export const handlers: HandlerMap = {
  always_fail: {
    description: 'Fails every attempt.',
    schema: {},
    run: () => {
      throw new Error('always fails');
    },
  },
  fail_first: {
    description: 'Fails its first attempt, then succeeds.',
    schema: {},
    run: (_payload, { requestId }) => {
      if (seen.has(requestId)) return { cured: true };
      seen.add(requestId);
      throw new Error('first attempt fails');
    },
  },
};
