/**
 * The abort of one attempt. Creating an AbortController, its signal and listeners for every
 * request was a measurable part of a worker's CPU, and most handlers never look at the signal:
 * this one makes the controller only when a handler reads `signal`, and races the handler's
 * promise without any listener.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private rejectRace: ((reason: Error) => void) | undefined;

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  get reason(): Error | undefined {
    return this.abortReason;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.abortReason && !this.controller.signal.aborted) this.controller.abort(this.abortReason);
    return this.controller.signal;
  }

  /** The first reason wins; later calls change nothing. */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }

  /** Settles like `work`, or rejects with the abort reason as soon as the attempt is aborted. */
  race<T>(work: T | PromiseLike<T>): Promise<T> {
    if (this.abortReason) return Promise.reject(this.abortReason);
    if (!isThenable(work)) return Promise.resolve(work);
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      Promise.resolve(work)
        .then(resolve, reject)
        .finally(() => {
          this.rejectRace = undefined;
        });
    });
  }
}

/** Any promise-like, not only native promises (handlers may use another promise library). */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
