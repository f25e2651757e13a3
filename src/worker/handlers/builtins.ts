import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpHandler } from './http.js';
import type { HandlerDefinition, HandlerMap } from './types.js';

const noop: HandlerDefinition = {
  description: 'Does nothing and returns null; for measuring the queue itself.',
  schema: { type: ['object', 'null'], properties: {}, additionalProperties: false },
  run: () => null,
};

const echo: HandlerDefinition = {
  description: 'Returns its payload as the result.',
  schema: {},
  run: (payload) => payload,
};

const sleepHandler: HandlerDefinition<{ ms: number }> = {
  description: 'Waits `ms` milliseconds (0–60,000), stopping early when aborted.',
  schema: {
    type: 'object',
    properties: { ms: { type: 'integer', minimum: 0, maximum: 60_000 } },
    required: ['ms'],
    additionalProperties: false,
  },
  run: async ({ ms }, { signal }) => {
    await sleep(ms, undefined, { signal });
    return { sleptMs: ms };
  },
};

export function builtinHandlers(httpAllowedHosts: string[]): HandlerMap {
  return {
    noop,
    echo,
    sleep: sleepHandler as HandlerDefinition,
    http: createHttpHandler(httpAllowedHosts) as HandlerDefinition,
  };
}
