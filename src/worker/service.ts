import type { Logger } from '../observability/logger.js';

/**
 * A background loop as a small service: `runOnce()` does one pass (tests call it directly),
 * `start()` repeats it, `stop()` ends it after the pass under way. Each pass tells how long to
 * wait before the next; a failing pass backs off exponentially up to `maxBackoffMs`.
 */
export abstract class PeriodicService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private failures = 0;

  protected constructor(
    protected readonly name: string,
    protected readonly log: Logger,
    private readonly maxBackoffMs = 10_000,
  ) {}

  /** One pass; resolves to the delay in ms before the next pass. */
  abstract runOnce(): Promise<number>;

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Runs the next pass within `delayMs` (sooner than planned, never later). */
  wakeWithin(delayMs: number): void {
    if (this.stopped) return;
    // During a pass, remember the wish: the pass's own plan may come later than asked.
    if (this.running) this.wakeAfterPass = Math.min(this.wakeAfterPass, Date.now() + delayMs);
    else this.schedule(delayMs);
  }

  private wakeAfterPass = Number.POSITIVE_INFINITY;

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private nextAt = Number.POSITIVE_INFINITY;

  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.timer && at >= this.nextAt) return;
    clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = setTimeout(() => void this.pass(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    this.timer = undefined;
    this.nextAt = Number.POSITIVE_INFINITY;
    let delay: number;
    this.running = this.runOnce().then(
      (next) => {
        this.failures = 0;
        delay = next;
      },
      (error: unknown) => {
        this.failures += 1;
        delay = Math.min(this.maxBackoffMs, 250 * 2 ** Math.min(this.failures, 6));
        this.log.warn({ err: error, service: this.name, retryInMs: delay }, `${this.name} failed`);
      },
    );
    await this.running;
    this.running = undefined;
    const asked = this.wakeAfterPass - Date.now();
    this.wakeAfterPass = Number.POSITIVE_INFINITY;
    if (!this.stopped) this.schedule(Math.max(0, Math.min(delay!, asked)));
  }
}
