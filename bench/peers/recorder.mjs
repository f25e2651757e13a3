// The job every system runs in the peer benchmark, and what it records (in the worker process).
//
// The job is a no-op that yields once to the event loop, so that two jobs of one client running
// at the same time would overlap in their recorded times. Each job records (client, index,
// enqueue stamp, start, finish) into memory; the driver asks for the records at the end (IPC
// message `dump`), and they are written to a file it names. Times are CLOCK_MONOTONIC
// (process.hrtime) in milliseconds, the same clock in every process of the machine, so start and
// finish stamps taken in different worker processes compare directly.
//
// Jobs wait for the driver's `go` message before they start: workers boot at their own pace, and
// the drain starts for every worker process at once.
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { setImmediate as yieldOnce } from 'node:timers/promises';

const FIELDS = 5;
let records = new Float64Array(FIELDS * 65_536);
let count = 0;
let marked = 0;
let open = process.env.BENCH_GATE_OPEN === '1';
let openGate;
const gate = new Promise((resolve) => (openGate = resolve));
if (open) openGate();

export function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}

function record(c, i, t, start, end) {
  if ((count + 1) * FIELDS > records.length) {
    const bigger = new Float64Array(records.length * 2);
    bigger.set(records);
    records = bigger;
  }
  const at = count * FIELDS;
  records[at] = c;
  records[at + 1] = i;
  records[at + 2] = t;
  records[at + 3] = start;
  records[at + 4] = end;
  count += 1;
}

/** The job: `{c, i, t?, m?}` = client number, index within the client, enqueue stamp, marked. */
export async function runJob(data) {
  if (!open) await gate;
  const start = now();
  await yieldOnce();
  const end = now();
  record(data.c, data.i, typeof data.t === 'number' ? data.t : -1, start, end);
  if (data.m === 1) marked += 1;
  return null;
}

function peakRssMb() {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

let ticker;
/** Reports progress to the driver every 100 ms; answers `go` and `dump`. */
export function attachToDriver() {
  if (!process.send || ticker) return;
  let reported = -1;
  ticker = setInterval(() => {
    if (count === reported) return;
    reported = count;
    process.send({ type: 'progress', done: count, marked });
  }, 100);
  ticker.unref();
  process.on('message', (message) => {
    if (message?.type === 'go') {
      open = true;
      openGate();
    } else if (message?.type === 'dump') {
      writeFileSync(message.file, Buffer.from(records.buffer, records.byteOffset, count * FIELDS * 8));
      process.send({ type: 'dumped', count, rssMb: peakRssMb() });
    }
  });
}

/** Tells the driver this worker process is ready to take jobs. */
export function ready() {
  attachToDriver();
  process.send?.({ type: 'ready' });
}
