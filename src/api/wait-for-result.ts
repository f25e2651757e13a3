import { setTimeout as sleep } from 'node:timers/promises';
import type { LiveEvents } from '../queue/live-events.js';
import { Wakeup } from '../worker/wakeup.js';

const POLL_MS = 100;
/** A wake message can be lost (a Redis reconnect): a waiting poll looks again at least this often. */
const SAFETY_RECHECK_MS = 5_000;
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Calls `attempt` every POLL_MS until it yields a value, `waitMs` has passed or `signal` aborts.
 * For short, rare waits (the archive catching up); waits for a client's results use
 * waitForFinished. `attempt` is never called once `signal` has aborted.
 */
export async function pollUntil<T>(attempt: () => Promise<T | undefined>, waitMs: number, signal: AbortSignal): Promise<T | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (signal.aborted) return undefined;
    const result = await attempt();
    const left = deadline - Date.now();
    if (result !== undefined || left <= 0) return result;
    await sleep(Math.min(POLL_MS, left), undefined, { signal }).catch(() => undefined);
  }
}

/**
 * A long poll for one client's next finished request: `attempt` (a dequeue) runs at once, and
 * again each time one of the client's requests ends, until it yields a value, `waitMs` has passed
 * or `signal` aborts (the client hung up: a dequeue whose answer nobody reads would lose a
 * result). The wake-ups come from the process's shared LiveEvents subscription, so thousands of
 * waiting polls hold no Redis connection of their own. The listener is in place before the first
 * attempt, so a request ending in between still wakes the poll.
 */
export async function waitForFinished<T>(
  live: LiveEvents,
  clientId: string,
  attempt: () => Promise<T | undefined>,
  waitMs: number,
  signal: AbortSignal,
): Promise<T | undefined> {
  if (waitMs <= 0) return signal.aborted ? undefined : attempt();
  const deadline = Date.now() + waitMs;
  const wakeup = new Wakeup();
  const onAbort = () => wakeup.notify();
  signal.addEventListener('abort', onAbort, { once: true });
  const unlisten = await live.listen(clientId, (event) => {
    if (FINAL.has(event.status)) wakeup.notify();
  });
  try {
    for (;;) {
      if (signal.aborted) return undefined;
      const result = await attempt();
      const left = deadline - Date.now();
      if (result !== undefined || left <= 0) return result;
      await wakeup.wait(Math.min(left, SAFETY_RECHECK_MS));
    }
  } finally {
    unlisten();
    signal.removeEventListener('abort', onAbort);
  }
}
