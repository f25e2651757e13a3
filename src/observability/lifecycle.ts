/**
 * Lifecycle lines of requests: accepted (API), started and finished (worker), one structured
 * line each, at level info. Writing three lines per request costs a busy worker a good share of
 * its throughput (see docs/operations.md), so by default only a sample of requests is logged.
 * The sample is chosen by request id, so the API and every worker pick the same requests and a
 * sampled request's story is complete.
 */
import type { Logger } from './logger.js';

export type LifecycleMode = 'off' | 'sampled' | 'all';

export interface LifecycleSettings {
  LOG_LIFECYCLE: LifecycleMode;
  LOG_LIFECYCLE_SAMPLE: number;
}

/**
 * Whether request `id` is in the 1-in-`every` sample. Request ids are UUIDv7, whose last hex
 * digits are random: their value modulo `every` spreads evenly and is the same in every process.
 */
export function inSample(id: string, every: number): boolean {
  if (every <= 1) return true;
  const tail = Number.parseInt(id.slice(-8), 16);
  return Number.isFinite(tail) && tail % every === 0;
}

export interface StartedRequest {
  id: string;
  clientId: string;
  type: string;
  attempt: number;
  enqueuedAt: number;
}

export class LifecycleLog {
  private readonly log: Logger;
  private readonly every: number;

  constructor(
    logger: Logger,
    private readonly settings: LifecycleSettings,
  ) {
    // These lines hold only the fields below, never a secret: without the process logger's
    // redaction paths a line costs about a quarter (redaction walks every line's keys).
    this.log = logger.child({ component: 'lifecycle' }, { redact: [] });
    this.every = settings.LOG_LIFECYCLE === 'all' ? 1 : settings.LOG_LIFECYCLE_SAMPLE;
  }

  /** Whether any line may be written: callers skip all work when not. */
  get enabled(): boolean {
    return this.settings.LOG_LIFECYCLE !== 'off' && this.log.isLevelEnabled('info');
  }

  wants(id: string): boolean {
    return this.enabled && inSample(id, this.every);
  }

  accepted(clientId: string, id: string, type: string, position: number): void {
    if (!this.wants(id)) return;
    this.log.info({ event: 'accepted', requestId: id, clientId, type, position }, 'request accepted');
  }

  started(request: StartedRequest, waitMs: number): void {
    if (!this.wants(request.id)) return;
    this.log.info(
      { event: 'started', requestId: request.id, clientId: request.clientId, type: request.type, attempt: request.attempt, waitMs },
      'request started',
    );
  }

  /** `outcome`: succeeded, failed (dead-lettered), retrying (attempt failed, will retry) or stale (lease lost). */
  finished(request: StartedRequest, outcome: string, durationMs: number, errorCode?: string): void {
    if (!this.wants(request.id)) return;
    this.log.info(
      {
        event: 'finished',
        requestId: request.id,
        clientId: request.clientId,
        type: request.type,
        attempt: request.attempt,
        outcome,
        durationMs,
        ...(errorCode === undefined ? {} : { errorCode }),
      },
      'request finished',
    );
  }
}
