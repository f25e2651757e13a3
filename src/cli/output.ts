/** Writing results: human-readable lines, or JSON with --json; progress on a terminal's stderr. */
import type { QueueStats, RequestView } from '../client/index.js';

export class Output {
  constructor(readonly json: boolean) {}

  /** A line of results on stdout. */
  line(text = ''): void {
    process.stdout.write(`${text}\n`);
  }

  /** A note for people on stderr (kept out of stdout, which scripts read). */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  /** `value` as one JSON document with --json; otherwise what `human` makes of it. */
  result<T>(value: T, human: (value: T) => string | string[]): void {
    if (this.json) return this.line(JSON.stringify(value, null, 2));
    const text = human(value);
    for (const line of Array.isArray(text) ? text : [text]) this.line(line);
  }
}

/** `label value` rows with the labels padded to one width. */
export function rows(pairs: [string, string | number | undefined][]): string[] {
  const present = pairs.filter((pair): pair is [string, string | number] => pair[1] !== undefined);
  const width = Math.max(...present.map(([label]) => label.length));
  return present.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
}

export function compactJson(value: unknown, max = 200): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function formatRequest(view: RequestView): string[] {
  const lines = rows([
    ['id', view.id],
    ['type', view.type],
    ['status', view.status],
    ['attempts', `${view.attempts} of ${view.maxAttempts}`],
    ['position', view.position],
    ['enqueued', view.enqueuedAt],
    ['started', view.startedAt],
    ['finished', view.finishedAt],
    ['payload', compactJson(view.payload)],
    ['result', view.result === undefined ? undefined : compactJson(view.result)],
    ['error', view.error ? `${view.error.message}${view.error.code ? ` (${view.error.code})` : ''}` : undefined],
  ]);
  for (const failed of view.history) {
    lines.push(`attempt ${failed.attempt} failed at ${failed.finishedAt}: ${failed.error.message}`);
  }
  return lines;
}

export function formatStats(stats: QueueStats): string[] {
  return rows([
    ['pending', stats.pending],
    ['running', stats.running],
    ['succeeded', stats.succeeded],
    ['failed', stats.failed],
    ['cancelled', stats.cancelled],
    ['oldest pending', stats.pending > 0 ? `${(stats.oldestPendingAgeMs / 1000).toFixed(1)} s ago` : undefined],
  ]);
}

/** A progress bar redrawn in place on stderr; silent unless stderr is a terminal. */
export class Progress {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDraw = 0;

  constructor(
    private readonly total: number,
    private readonly label: string,
  ) {}

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const fraction = this.total === 0 ? 1 : done / this.total;
    const width = Math.max(10, Math.min(40, (process.stderr.columns ?? 80) - 40));
    const filled = Math.round(fraction * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    process.stderr.write(`\r\x1b[K${this.label} ${bar} ${done}/${this.total} ${Math.floor(fraction * 100)}%`);
  }

  /** Removes the bar (the caller prints its summary line next). */
  clear(): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  }
}
