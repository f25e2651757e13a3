import { FINAL_STATUSES, type QueueEvent, type QueueStats, type RequestStatus, type RequestView } from '../client/index.js';
import { client } from './session.js';

/** One line of "my requests": what the list shows, filled in as events and reads arrive. */
export interface Row {
  id: string;
  status: RequestStatus;
  type?: string;
  enqueuedAt?: string;
}

/** How many rows the list keeps (newest first); older ones stay readable by their detail page. */
const MAX_ROWS = 50;
/** Counters are re-read at most this often while events pour in. */
const STATS_DELAY_MS = 150;

/** Whether status `next` may replace `current`: a snapshot read late must not move a request back. */
function isLater(current: RequestStatus, next: RequestStatus): boolean {
  const rank = (status: RequestStatus) => (FINAL_STATUSES.has(status) ? 2 : status === 'running' ? 1 : 0);
  return rank(next) >= rank(current);
}

/**
 * The signed-in user's queue as it changes: the newest requests, their statuses kept current by
 * the SSE stream (the SDK reconnects and resumes it), and the counters re-read after changes.
 */
export class LiveQueue {
  readonly rows = new Map<string, Row>();
  stats: QueueStats | undefined;
  live = false;
  problem: string | undefined;
  /** Bumped on every change, so views can tell a new state from an old one. */
  version = 0;
  private readonly listeners = new Set<() => void>();
  private readonly abort = new AbortController();
  private statsTimer: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    void this.follow();
    void this.loadRecent();
    this.refreshStats();
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.statsTimer);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The rows, newest first (request ids are uuidv7: they sort by enqueue time). */
  list(): Row[] {
    return [...this.rows.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** What a read or an enqueue answer says about a request. */
  upsert(view: Pick<RequestView, 'id' | 'status'> & Partial<RequestView>, authoritative = false): void {
    const row = this.rows.get(view.id);
    const status = !row || authoritative || isLater(row.status, view.status) ? view.status : row.status;
    this.rows.set(view.id, {
      id: view.id,
      status,
      ...(view.type ?? row?.type ? { type: view.type ?? row?.type } : {}),
      ...(view.enqueuedAt ?? row?.enqueuedAt ? { enqueuedAt: view.enqueuedAt ?? row?.enqueuedAt } : {}),
    });
    this.trim();
    this.changed();
  }

  /** Re-reads the counters soon (several changes in a row cost one read). */
  refreshStats(): void {
    if (this.statsTimer !== undefined) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      client.stats().then(
        (stats) => {
          this.stats = stats;
          this.changed();
        },
        (error: unknown) => this.fail(error),
      );
    }, STATS_DELAY_MS);
  }

  private async follow(): Promise<void> {
    const events = client.events({
      signal: this.abort.signal,
      onOpen: () => {
        this.live = true;
        this.problem = undefined;
        this.changed();
      },
    });
    try {
      for await (const event of events) this.apply(event);
    } catch (error) {
      this.fail(error);
    } finally {
      this.live = false;
      if (!this.abort.signal.aborted) this.changed();
    }
  }

  /** Events arrive in order, so each one is the request's current status. */
  private apply(event: QueueEvent): void {
    const complete = this.rows.get(event.id)?.enqueuedAt !== undefined;
    this.upsert({ id: event.id, status: event.status }, true);
    // New to the list (enqueued here, or elsewhere: the CLI, another tab): read what it shows.
    if (!complete) client.get(event.id).then((view) => this.upsert(view), () => undefined);
    this.refreshStats();
  }

  private async loadRecent(): Promise<void> {
    try {
      const page = await client.list({ limit: MAX_ROWS });
      for (const view of page.requests) this.upsert(view);
    } catch (error) {
      this.fail(error);
    }
  }

  private trim(): void {
    for (const row of this.list().slice(MAX_ROWS)) this.rows.delete(row.id);
  }

  private fail(error: unknown): void {
    if (this.abort.signal.aborted) return;
    this.problem = error instanceof Error ? error.message : String(error);
    this.changed();
  }

  private changed(): void {
    this.version += 1;
    for (const listener of this.listeners) listener();
  }
}
