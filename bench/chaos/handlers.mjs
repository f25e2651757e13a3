// Request types of the chaos suite (HANDLERS=./bench/chaos/handlers.mjs), plain JavaScript so that
// both `node dist/main.js` and `node --import tsx src/main.ts` load it.
//
// `chaos` records every attempt it runs in CHAOS_LOG_DIR/<pid>.log, one line per event, written
// with a synchronous write(2) before the handler goes on, so that the line is in the kernel's page
// cache (and survives a SIGKILL of this process) before the work it describes happens:
//   S <requestId> <attempt> <time>   the handler started
//   F <requestId> <attempt> <time>   the handler finished (its completion may still be lost)
//   A <requestId> <attempt> <time>   the handler was aborted (lease lost, timeout, shutdown)
// <time> is epoch milliseconds with microsecond precision (performance.timeOrigin + now()), one
// clock for every process of the machine.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

const dir = process.env.CHAOS_LOG_DIR;
let fd;
function record(kind, id, attempt) {
  if (!dir) return;
  if (fd === undefined) {
    mkdirSync(dir, { recursive: true });
    fd = openSync(join(dir, `${process.pid}.log`), 'a');
    process.once('exit', () => closeSync(fd));
  }
  const now = performance.timeOrigin + performance.now();
  writeSync(fd, `${kind} ${id} ${attempt} ${now.toFixed(3)}\n`);
}

export const handlers = {
  chaos: {
    description: 'Records its start and finish (CHAOS_LOG_DIR), sleeps `ms` and returns the pid that ran it.',
    schema: {
      type: 'object',
      properties: {
        c: { type: 'integer', minimum: 0 },
        n: { type: 'integer', minimum: 0 },
        b: { type: 'string', maxLength: 64 },
        ms: { type: 'integer', minimum: 0, maximum: 1000 },
      },
      required: ['c', 'n'],
    },
    run: async (payload, { requestId, attempt, signal }) => {
      record('S', requestId, attempt);
      try {
        if (payload.ms > 0) await sleep(payload.ms, undefined, { signal });
      } catch (error) {
        record('A', requestId, attempt);
        throw error;
      }
      record('F', requestId, attempt);
      return { pid: process.pid };
    },
  },
};
