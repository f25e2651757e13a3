// HANDLERS module of the laneq processes in the peer benchmark: the shared no-op job as the
// request type `bench.noop`.
import { attachToDriver, runJob } from './recorder.mjs';

attachToDriver();

export const handlers = {
  'bench.noop': {
    description: 'Peer benchmark no-op: records its start and finish (bench/peers/recorder.mjs).',
    schema: {
      type: 'object',
      properties: { c: { type: 'integer' }, i: { type: 'integer' }, t: { type: 'number' }, m: { type: 'integer' } },
      required: ['c', 'i'],
    },
    run: (payload) => runJob(payload),
  },
};
