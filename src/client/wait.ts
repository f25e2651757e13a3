import { LaneqError } from './errors.js';
import { childController, sleep, streamEvents } from './events.js';
import type { Http } from './http.js';
import { FINAL_STATUSES, type RequestView } from './types.js';

export interface WaitOptions {
  /** Gives up with LaneqError `timeout` after this long. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** How often get() is polled besides the event stream (and instead of it, should it fail). Default 5 s. */
  pollIntervalMs?: number;
}

/**
 * The request once it is final. Listens to the event stream and reads the request each time the
 * stream (re)connects and when its final event arrives, so no change can slip between a read and
 * the stream; a slow poll covers streams that a proxy buffers, and takes over if the stream fails.
 */
export async function waitForFinal(
  http: Http,
  get: (id: string, signal: AbortSignal) => Promise<RequestView>,
  id: string,
  options: WaitOptions = {},
): Promise<RequestView> {
  const { timeoutMs = 60_000, pollIntervalMs = 5_000 } = options;
  const { controller, release } = childController(options.signal);
  const signal = controller.signal;
  const timer = setTimeout(
    () => controller.abort(new LaneqError(0, 'timeout', `Request ${id} did not finish within ${timeoutMs} ms.`)),
    timeoutMs,
  );
  try {
    return await new Promise<RequestView>((resolve, reject) => {
      const fail = (error: unknown) => reject(signal.aborted ? signal.reason : error);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      const check = async () => {
        const record = await get(id, signal);
        if (FINAL_STATUSES.has(record.status)) resolve(record);
      };
      let streaming = true;
      const viaEvents = async () => {
        for await (const event of streamEvents(http, { signal, onOpen: () => void check().catch(fail) })) {
          if (event.id === id && FINAL_STATUSES.has(event.status)) await check();
        }
      };
      const viaPolling = async () => {
        while (!signal.aborted) {
          await sleep(streaming ? pollIntervalMs : Math.min(pollIntervalMs, 1_000), signal);
          if (!signal.aborted) await check();
        }
      };
      viaEvents().catch((error: unknown) => {
        if (signal.aborted) return;
        // The stream cannot be had (e.g. a gateway refusing it): polling alone carries on.
        if (error instanceof LaneqError && error.status === 401) return fail(error);
        streaming = false;
      });
      viaPolling().catch(fail);
    });
  } finally {
    clearTimeout(timer);
    controller.abort();
    release();
  }
}
