/**
 * `laneq watch`: my requests' state changes from the SDK's event stream. On a terminal, a table
 * redrawn in place (the queue's counts and the most recently changed requests); otherwise one line
 * per event (one JSON object per line with --json). The counts come from the server's stats, read
 * when the stream (re)connects, after events (at most a few times a second) and every 2 s, so they
 * stay right even if an event is missed; `--until-idle` ends once they show nothing queued or running.
 */
import { LaneqError, type LaneqClient, type QueueEvent, type QueueStats } from '../client/index.js';
import type { Output } from './output.js';

const CHECK_INTERVAL_MS = 2_000;
const CHECK_MIN_GAP_MS = 300;
/** After the counts show idle, how long to let the stream deliver the last events before ending. */
const IDLE_GRACE_MS = 250;

export interface WatchOptions {
  untilIdle: boolean;
  /** Stops the watch (Ctrl-C). */
  signal: AbortSignal;
  url: string;
  username: string;
}

function clock(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toISOString().slice(11, 23);
}

/** The live table, redrawn over its previous self. */
class Table {
  private readonly recent = new Map<string, QueueEvent>();
  private drawnLines = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  stats: QueueStats | undefined;
  notice = '';

  constructor(private readonly header: string) {
    process.stdout.write('\x1b[?25l'); // hide the cursor while redrawing
  }

  add(event: QueueEvent): void {
    this.recent.delete(event.id);
    this.recent.set(event.id, event);
    const keep = this.maxRows();
    for (const id of this.recent.keys()) {
      if (this.recent.size <= keep) break;
      this.recent.delete(id);
    }
    this.schedule();
  }

  private maxRows(): number {
    return Math.max(3, Math.min(30, (process.stdout.rows ?? 24) - 6));
  }

  schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, 100 - (Date.now() - this.lastDraw));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
  }

  draw(): void {
    this.lastDraw = Date.now();
    const s = this.stats;
    const counts = s
      ? `pending ${s.pending}  running ${s.running}  succeeded ${s.succeeded}  failed ${s.failed}  cancelled ${s.cancelled}`
      : 'reading counts…';
    const lines = [this.header, counts + (this.notice ? `  (${this.notice})` : ''), '', `${'REQUEST'.padEnd(36)}  ${'STATUS'.padEnd(9)}  ATTEMPT  AT`];
    for (const event of [...this.recent.values()].reverse()) {
      lines.push(`${event.id.padEnd(36)}  ${event.status.padEnd(9)}  ${String(event.attempt).padEnd(7)}  ${clock(event.at)}`);
    }
    const columns = process.stdout.columns ?? 120;
    const text = lines.map((line) => `${line.slice(0, columns - 1)}\x1b[K`).join('\n');
    const up = this.drawnLines > 1 ? `\x1b[${this.drawnLines - 1}F` : '\r';
    process.stdout.write(`${up}${text}\x1b[J`);
    this.drawnLines = lines.length;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
    process.stdout.write('\n\x1b[?25h');
  }
}

function transient(error: unknown): boolean {
  return error instanceof LaneqError && (error.status === 0 || error.status === 429 || error.status >= 500);
}

export async function watch(client: LaneqClient, output: Output, options: WatchOptions): Promise<QueueStats | undefined> {
  const stop = new AbortController();
  const abort = () => stop.abort();
  options.signal.addEventListener('abort', abort, { once: true });
  const table = process.stdout.isTTY && !output.json ? new Table(`laneq watch: ${options.username} at ${options.url} (Ctrl-C to quit)`) : undefined;
  let failure: unknown;
  let stats: QueueStats | undefined;
  let checking = false;
  let pending: NodeJS.Timeout | undefined;
  let lastCheck = 0;
  let warned = false;

  const check = async () => {
    checking = true;
    lastCheck = Date.now();
    try {
      stats = await client.stats();
      if (table) {
        table.stats = stats;
        table.notice = '';
        table.schedule();
      }
      if (options.untilIdle && stats.pending === 0 && stats.running === 0) setTimeout(() => stop.abort(), IDLE_GRACE_MS);
    } catch (error) {
      if (!transient(error)) {
        failure = error;
        stop.abort();
      } else if (table) {
        table.notice = 'server unreachable, retrying';
        table.schedule();
      } else if (!warned) {
        warned = true;
        output.note(`laneq: the server does not answer (${(error as Error).message}); retrying`);
      }
    } finally {
      checking = false;
    }
  };
  /** Reads the counts soon: right away unless a read is running or one happened just now. */
  const scheduleCheck = () => {
    if (pending || stop.signal.aborted) return;
    const wait = checking ? CHECK_MIN_GAP_MS : Math.max(0, CHECK_MIN_GAP_MS - (Date.now() - lastCheck));
    pending = setTimeout(() => {
      pending = undefined;
      if (checking) return scheduleCheck();
      void check();
    }, wait);
  };
  const poll = setInterval(scheduleCheck, CHECK_INTERVAL_MS);

  try {
    for await (const event of client.events({ signal: stop.signal, onOpen: scheduleCheck })) {
      if (table) table.add(event);
      else if (output.json) output.line(JSON.stringify({ id: event.id, status: event.status, attempt: event.attempt, at: event.at }));
      else output.line(`${event.at}  ${event.id}  ${event.status.padEnd(9)}  attempt ${event.attempt}`);
      scheduleCheck();
    }
  } catch (error) {
    if (!stop.signal.aborted) failure = error;
  } finally {
    clearInterval(poll);
    if (pending) clearTimeout(pending);
    options.signal.removeEventListener('abort', abort);
    table?.close();
  }
  if (failure !== undefined) throw failure;
  return stats;
}
