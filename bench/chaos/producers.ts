/**
 * HTTP producers for the chaos scenarios: one closed loop per user, each enqueueing `chaos`
 * requests (single or in batches) over `POST /api/queue/enqueue` and remembering what was
 * acknowledged (202), refused, or never answered.
 */
import { now, sleep, type User } from './harness.js';

export interface Outcome {
  at: number;
  status: number;
  /** the catalogue error code when refused */
  code?: string;
  body?: unknown;
}

export interface ProducerStats {
  /** per user, the ids acknowledged with 202, in the order the user sent them */
  ids: string[][];
  /** HTTP status (or 0 for no answer: connection refused or cut) → count */
  statuses: Record<string, number>;
  /** refused calls by error code */
  codes: Record<string, number>;
  /** one body of each refusal status seen, for the record */
  samples: Record<string, unknown>;
  /** when each acknowledged call was answered */
  ackTimes: number[];
  /** batches: marker → 'acked', 'refused' (an HTTP error status) or 'unanswered:<network error code>' */
  batches: Map<string, string>;
  calls: number;
}

export interface ProducerOptions {
  base: () => string;
  users: User[];
  /** requests per call: 1 sends single enqueues `{type, payload}`, more sends `{requests: [...]}` */
  batchSize: number;
  /** handler sleep of each request */
  ms?: number;
  /** pause after a call that was not acknowledged */
  backoffMs?: number;
  /** pause between calls of one user (0: back to back) */
  pauseMs?: number;
}

export class Producers {
  readonly stats: ProducerStats;
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly options: ProducerOptions) {
    this.stats = {
      ids: options.users.map(() => []),
      statuses: {},
      codes: {},
      samples: {},
      ackTimes: [],
      batches: new Map(),
      calls: 0,
    };
    this.loops = options.users.map((user) => this.loop(user));
  }

  async stop(): Promise<ProducerStats> {
    this.running = false;
    await Promise.all(this.loops);
    return this.stats;
  }

  private async loop(user: User): Promise<void> {
    let n = 0;
    let batchNo = 0;
    const { batchSize } = this.options;
    while (this.running) {
      const marker = `${user.index}-${batchNo++}`;
      const items = Array.from({ length: batchSize }, () => ({
        type: 'chaos',
        payload: { c: user.index, n: n++, b: marker, ms: this.options.ms ?? 1 },
        maxAttempts: 10,
      }));
      const body = batchSize === 1 ? items[0] : { requests: items };
      const outcome = await this.send(user, body);
      const { stats } = this;
      stats.calls += 1;
      stats.statuses[String(outcome.status)] = (stats.statuses[String(outcome.status)] ?? 0) + 1;
      if (outcome.status === 202) {
        const accepted = (batchSize === 1 ? [outcome.body] : (outcome.body as { requests: unknown[] }).requests) as { id: string }[];
        stats.ids[user.index]?.push(...accepted.map((one) => one.id));
        stats.ackTimes.push(outcome.at);
        if (batchSize > 1) stats.batches.set(marker, 'acked');
      } else {
        if (outcome.code) stats.codes[outcome.code] = (stats.codes[outcome.code] ?? 0) + 1;
        stats.samples[String(outcome.status)] ??= outcome.body;
        if (batchSize > 1) stats.batches.set(marker, outcome.status === 0 ? `unanswered:${outcome.code ?? ''}` : 'refused');
        await sleep(this.options.backoffMs ?? 50);
      }
      if (this.options.pauseMs) await sleep(this.options.pauseMs);
    }
  }

  private async send(user: User, body: unknown): Promise<Outcome> {
    try {
      const response = await fetch(`${this.options.base()}/api/queue/enqueue`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      const code = (parsed as { error?: { code?: string } } | null)?.error?.code;
      return { at: now(), status: response.status, ...(code ? { code } : {}), body: parsed };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return { at: now(), status: 0, code: `network:${cause?.code ?? (error as Error).name}` };
    }
  }
}

/** True when `body` has the catalogue's error shape `{error: {code, message, details?}}`. */
export function isCatalogueError(body: unknown, code: string): boolean {
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (!error || typeof error !== 'object') return false;
  const keys = Object.keys(error).filter((key) => key !== 'details');
  return error.code === code && typeof error.message === 'string' && keys.length === 2;
}
