import type { RedisClient } from '../redis/connect.js';
import type { KeySpace, ShardKeys } from './keys.js';
import type { RequestStatus } from './records.js';

/** A state change of one request, as event streams and long polls see it. */
export interface RequestEvent {
  clientId: string;
  id: string;
  status: RequestStatus;
  attempt: number;
  /** ms, Redis clock */
  at: number;
}

const STATUS_ORDER: Record<RequestStatus, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };

/**
 * Oldest first. Within one millisecond: the older request first (ids are uuidv7, ordered by
 * enqueue, and a client's older request ends before its next one starts), then a request's queued
 * before its running before its end.
 */
export function compareEvents(a: RequestEvent, b: RequestEvent): number {
  return a.at - b.at || a.id.localeCompare(b.id) || STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
}

/** An SSE event id that is also a resume point: "<ms>.<request id>.<status>". */
export function eventId(event: RequestEvent): string {
  return `${event.at}.${event.id}.${event.status}`;
}

/** The time of a Last-Event-ID written by eventId, or undefined when it is not one. */
export function resumeTime(lastEventId: string | undefined): number | undefined {
  const time = Number(lastEventId?.split('.')[0]);
  return Number.isSafeInteger(time) && time > 0 ? time : undefined;
}

export function parseEventMessage(message: string): RequestEvent | undefined {
  const [clientId, id, status, attempt, at] = message.split(' ');
  if (!clientId || !id || !status || at === undefined) return undefined;
  return { clientId, id, status: status as RequestStatus, attempt: Number(attempt), at: Number(at) };
}

type Listener = (event: RequestEvent) => void;

/**
 * Delivers request events to the long polls and event streams of one API process. However many
 * are open, they share one subscriber connection: the process subscribes to every shard's events
 * channel and hands each message to the listeners of its client. The scripts publish a client's
 * events only while it is in its shard's `watch` set, which this class keeps fresh for the clients
 * it has listeners for, with one timer for all of them.
 */
export class LiveEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly onMessage = (_channel: string, message: string) => this.dispatch(message);

  constructor(
    private readonly redis: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly keys: KeySpace,
    /** how long a watch lasts without refresh; refreshed every third of it */
    private readonly watchTtlMs = 60_000,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', this.onMessage);
    await this.subscriber.subscribe(...this.keys.shards.map((shard) => shard.events));
    this.refreshTimer = setInterval(() => void this.refreshWatches().catch(() => undefined), this.watchTtlMs / 3);
    this.refreshTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.subscriber.off('message', this.onMessage);
    await this.subscriber.unsubscribe().catch(() => undefined);
    this.listeners.clear();
  }

  /**
   * Calls `listener` with every later event of the client's requests until the returned function
   * is called. Resolves once the watch is registered in Redis, so no event after that is missed.
   */
  async listen(clientId: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(clientId);
    if (!set) {
      set = new Set();
      this.listeners.set(clientId, set);
    }
    set.add(listener);
    if (set.size === 1) await this.watch([clientId]);
    return () => {
      const current = this.listeners.get(clientId);
      current?.delete(listener);
      // The watch entry is left to expire: another API process may be watching the same client.
      if (current?.size === 0) this.listeners.delete(clientId);
    };
  }

  get watchedClients(): number {
    return this.listeners.size;
  }

  private dispatch(message: string): void {
    const event = parseEventMessage(message);
    if (!event) return;
    for (const listener of this.listeners.get(event.clientId) ?? []) listener(event);
  }

  /** One ZADD per shard for all of its watched clients; expired entries are swept meanwhile. */
  private async watch(clientIds: string[]): Promise<void> {
    const now = Date.now();
    const byShard = new Map<ShardKeys, string[]>();
    for (const clientId of clientIds) {
      const shard = this.keys.forClient(clientId);
      byShard.set(shard, [...(byShard.get(shard) ?? []), clientId]);
    }
    await Promise.all(
      [...byShard].map(async ([shard, clients]) => {
        const members = clients.flatMap((clientId) => [now + this.watchTtlMs, clientId]);
        await this.redis.zadd(shard.watch, ...members);
        await this.redis.zremrangebyscore(shard.watch, '-inf', now - this.watchTtlMs);
      }),
    );
  }

  private refreshWatches(): Promise<void> {
    return this.listeners.size === 0 ? Promise.resolve() : this.watch([...this.listeners.keys()]);
  }
}
