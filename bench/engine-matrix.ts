/**
 * Runs the engine benchmark over the scenarios bench/README.md records (10 × 10,000,
 * 1,000 × 100 and 100,000 × 1 requests, with 1 and 2 worker processes) and prints one Markdown
 * table row per run: `npm run bench:engine:matrix`.
 */
import { execFileSync } from 'node:child_process';

const scenarios = [
  [10, 10_000],
  [1_000, 100],
  [100_000, 1],
] as const;

console.log('| clients × per client | workers | enqueue/s | drain/s | order viol. | overlap viol. | lost | first start (max, % of drain) | Redis bytes/queued | worker RSS MB | Redis conns |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const workers of [1, 2]) {
  for (const [clients, perClient] of scenarios) {
    const output = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'bench/engine.ts', '--clients', String(clients), '--per-client', String(perClient), '--workers', String(workers)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 },
    );
    const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    console.log(
      `| ${clients.toLocaleString('en')} × ${perClient.toLocaleString('en')} | ${workers} | ${result.enqueuePerSec} | ${result.drainPerSec} | ${result.orderViolations} | ${result.overlapViolations} | ${result.lost} | ${((result.firstStartMaxFraction ?? 0) * 100).toFixed(1)} | ${result.redisBytesPerQueued} | ${result.workerRssMb} | ${result.redisConnections} |`,
    );
  }
}
