import { LaneqError } from './errors.js';
import type { Http } from './http.js';
import { SseParser } from './sse.js';
import type { QueueEvent } from './types.js';

export interface EventsOptions {
  /** Resume after this event (an earlier QueueEvent's eventId): what changed since comes first. */
  lastEventId?: string;
  /** Ends the iteration (and the connection) when aborted. */
  signal?: AbortSignal;
  /** Called each time a connection is established (first one and every reconnect). */
  onOpen?: () => void;
  /** Reconnect delays: doubling from `minDelayMs` up to `maxDelayMs`, with jitter. Defaults 250 ms and 10 s. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A controller that aborts with `parent` too (AbortSignal.any is not everywhere yet). */
export function childController(parent?: AbortSignal): { controller: AbortController; release: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort(parent?.reason);
  if (parent?.aborted) abort();
  parent?.addEventListener('abort', abort, { once: true });
  return { controller, release: () => parent?.removeEventListener('abort', abort) };
}

/** Errors worth reconnecting after: no answer, a server or gateway failure, throttling. */
function retryable(error: unknown): boolean {
  if (!(error instanceof LaneqError)) return true;
  return error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500;
}

function toEvent(eventId: string | undefined, data: string): QueueEvent | undefined {
  try {
    const parsed = JSON.parse(data) as Partial<QueueEvent>;
    if (typeof parsed.id !== 'string' || typeof parsed.status !== 'string') return undefined;
    return {
      eventId: eventId ?? '',
      id: parsed.id,
      status: parsed.status,
      attempt: Number(parsed.attempt),
      at: String(parsed.at),
    };
  } catch {
    return undefined;
  }
}

/** The millisecond an event id (`<ms>.<request id>.<status>`) names, or undefined. */
function eventTime(eventId: string): number | undefined {
  const ms = Number(eventId.split('.')[0]);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/**
 * Resume points and the events already seen near them. The server orders the events of one
 * millisecond by request id rather than by when they happened, so resuming exactly after the last
 * event seen could skip a later event of that millisecond with a smaller id. So reconnects resume
 * one millisecond earlier, and the events seen in those last milliseconds are dropped when sent again.
 */
class ResumeState {
  private readonly recent = new Set<string>();
  private latest = 0;

  constructor(private last: string | undefined) {
    if (last !== undefined) this.remember(last);
  }

  /** Whether the event is new (and then remembers it). */
  accept(eventId: string | undefined): boolean {
    if (eventId === undefined) return true;
    if (eventId === this.last || this.recent.has(eventId)) return false;
    this.last = eventId;
    this.remember(eventId);
    return true;
  }

  /** The Last-Event-ID to send: the caller's own on the first connection, one ms earlier after. */
  resumeId(reconnect: boolean): string | undefined {
    const ms = this.last === undefined ? undefined : eventTime(this.last);
    if (!reconnect || this.last === undefined || ms === undefined) return this.last;
    return `${ms - 1}${this.last.slice(String(ms).length)}`;
  }

  private remember(eventId: string): void {
    const ms = eventTime(eventId);
    if (ms === undefined) return;
    if (ms > this.latest) {
      this.latest = ms;
      for (const seen of this.recent) if ((eventTime(seen) ?? 0) < ms - 1) this.recent.delete(seen);
    }
    this.recent.add(eventId);
  }
}

/**
 * The caller's request state changes from GET /api/queue/events, read with fetch (EventSource
 * cannot send a Bearer token). When the stream drops it reconnects with the last event id seen,
 * so the server replays what changed meanwhile; nothing is lost and nothing comes twice. Ends when
 * `signal` aborts or the consumer stops; throws on errors a reconnect cannot cure (e.g. a refresh
 * refused: signed out).
 */
export async function* streamEvents(http: Http, options: EventsOptions = {}): AsyncGenerator<QueueEvent, void, undefined> {
  const { signal, minDelayMs = 250, maxDelayMs = 10_000 } = options;
  const resume = new ResumeState(options.lastEventId);
  let failures = 0;
  let connections = 0;
  while (!signal?.aborted) {
    const { controller, release } = childController(signal);
    const lastEventId = resume.resumeId(connections > 0);
    connections += 1;
    try {
      const response = await http.send({
        path: 'api/queue/events',
        auth: true,
        headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
        signal: controller.signal,
      });
      if (!response.body) throw new LaneqError(response.status, 'unexpected_response', 'The event stream has no body.');
      options.onOpen?.();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const message of parser.push(decoder.decode(value, { stream: true }))) {
            const event = toEvent(message.id, message.data);
            if (!event || !resume.accept(message.id)) continue;
            failures = 0;
            yield event;
          }
        }
      } finally {
        controller.abort();
        reader.cancel().catch(() => undefined);
      }
    } catch (error) {
      if (signal?.aborted) return;
      if (!retryable(error)) throw error;
    } finally {
      controller.abort();
      release();
    }
    if (signal?.aborted) return;
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** failures);
    failures += 1;
    await sleep(ceiling / 2 + Math.random() * (ceiling / 2), signal);
  }
}
