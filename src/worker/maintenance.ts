import type { Logger } from '../observability/logger.js';
import type { WorkerOps } from '../queue/worker-ops.js';
import { PeriodicService } from './service.js';

/**
 * Takes back requests whose lease expired (their worker crashed or froze). Every worker process
 * runs it; the script is atomic, so several running at once only share the work.
 */
export class LeaseRecovery extends PeriodicService {
  constructor(
    private readonly ops: WorkerOps,
    log: Logger,
    private readonly intervalMs: number,
    private readonly onRecovered: (redelivered: number, deadLettered: number) => void = () => undefined,
  ) {
    super('lease recovery', log);
  }

  async runOnce(): Promise<number> {
    const results = await Promise.all(this.ops.shards.map((shard) => this.ops.recoverExpiredLeases(shard)));
    let redelivered = 0;
    let deadLettered = 0;
    for (const result of results) {
      redelivered += result.redelivered.length;
      deadLettered += result.deadLettered.length;
    }
    if (redelivered + deadLettered > 0) {
      this.log.warn({ redelivered, deadLettered }, 'expired leases recovered');
      this.onRecovered(redelivered, deadLettered);
    }
    return this.intervalMs;
  }
}

/**
 * Puts clients whose retry is due back into the ready ring. It sleeps until the earliest due
 * retry (as Redis reports it), and a worker that schedules a retry wakes it for that moment.
 */
export class RetryPromoter extends PeriodicService {
  constructor(
    private readonly ops: WorkerOps,
    log: Logger,
    private readonly maxIdleMs: number,
  ) {
    super('retry promotion', log);
  }

  async runOnce(): Promise<number> {
    const results = await Promise.all(this.ops.shards.map((shard) => this.ops.promoteDueRetries(shard)));
    let next = this.maxIdleMs;
    for (const { promoted, nextDueInMs } of results) {
      if (promoted === 1_000) next = 0;
      if (nextDueInMs >= 0) next = Math.min(next, nextDueInMs);
    }
    return next;
  }
}
