// Preloaded into the laneq processes of a soak run (node --import ./bench/soak/probe.mjs): every
// SOAK_PROBE_EVERY_MS it appends one JSON line to SOAK_PROBE_DIR/<pid>.jsonl with the process's
// memory and the event-loop delay seen since the previous line (perf_hooks.monitorEventLoopDelay,
// 10 ms resolution), so the soak driver can read them whatever the process exposes itself.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import process from 'node:process';
import { setInterval } from 'node:timers';

const dir = process.env.SOAK_PROBE_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.jsonl`);
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const every = Number(process.env.SOAK_PROBE_EVERY_MS ?? 10_000);
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    const ms = (ns) => Number((ns / 1e6).toFixed(2));
    appendFileSync(
      file,
      `${JSON.stringify({
        at: Date.now(),
        rssMb: Number((memory.rss / 1048576).toFixed(1)),
        heapUsedMb: Number((memory.heapUsed / 1048576).toFixed(1)),
        eventLoopDelayMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) },
      })}\n`,
    );
    histogram.reset();
  }, every);
  timer.unref();
}
