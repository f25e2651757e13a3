import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 100;

/**
 * Calls `attempt` until it yields a value, `waitMs` has passed or `signal` aborts (the client went
 * away, or the server is shutting down), every POLL_MS. Deliberately simple polling: a shared
 * subscription will replace it, and this one function is all there is to swap. `attempt` is never
 * called once `signal` has aborted, because a dequeue whose answer nobody reads loses a result.
 */
export async function waitForResult<T>(
  attempt: () => Promise<T | undefined>,
  waitMs: number,
  signal: AbortSignal,
): Promise<T | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (signal.aborted) return undefined;
    const result = await attempt();
    const left = deadline - Date.now();
    if (result !== undefined || left <= 0) return result;
    await sleep(Math.min(POLL_MS, left), undefined, { signal }).catch(() => undefined);
  }
}
