/**
 * A level-triggered wake-up: `notify()` before `wait()` is not lost, so a loop that checks for
 * work, finds none and then waits cannot miss a notification sent in between.
 */
export class Wakeup {
  private pending = false;
  private resolveWaiter: ((woken: boolean) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  notify(): void {
    if (this.resolveWaiter) this.settle(true);
    else this.pending = true;
  }

  /** Resolves true when notified, false when `timeoutMs` passed first. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      this.resolveWaiter = resolve;
      this.timer = setTimeout(() => this.settle(false), timeoutMs);
    });
  }

  private settle(woken: boolean): void {
    clearTimeout(this.timer);
    const resolve = this.resolveWaiter;
    this.resolveWaiter = undefined;
    resolve?.(woken);
  }
}
