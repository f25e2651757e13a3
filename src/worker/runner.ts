import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.js';
import type { ShardKeys } from '../queue/keys.js';
import type { AttemptOutcome, ClaimedRequest, Completion, CompletionResult, WorkerOps } from '../queue/worker-ops.js';
import type { RedisClient } from '../redis/connect.js';
import { retryDelayMs } from './backoff.js';
import type { HandlerRegistry } from './handlers/registry.js';
import { PermanentError } from './handlers/types.js';
import { LazyAbort } from './lazy-abort.js';
import { Wakeup } from './wakeup.js';

export interface RunnerSettings {
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** longest result kept (JSON text bytes); larger results fail the request */
  maxResultBytes: number;
  /** how long an idle runner waits before looking at every shard again, in case a wake message was lost */
  idleCheckMs?: number;
  /**
   * Most requests of one client a claim may bring (a run, see claim_heads.lua), run one after
   * another without a round trip between them; 1 turns runs off.
   */
  runLength?: number;
}

/** Observers of the runner's events (metrics, logs, tests). */
export interface RunnerHooks {
  onStarted?(request: ClaimedRequest): void;
  onFinished?(request: ClaimedRequest, result: CompletionResult, outcome: AttemptOutcome, durationMs: number): void;
  onRetryScheduled?(delayMs: number): void;
}

interface Running {
  request: ClaimedRequest;
  abort: LazyAbort;
  startedAt: number;
  deadline: number;
  /** given back at shutdown: its completion must not be sent */
  released: boolean;
  /** its completion is on its way: a heartbeat racing it would report the lease as lost */
  completing: boolean;
  /**
   * A run's request started before its predecessor's completion, which leases it, reached Redis:
   * until then a heartbeat would find the predecessor's lease and report this one lost.
   */
  awaitingLease: boolean;
  /** the run's next request, started when this one ended */
  successor?: Running;
  /**
   * When the call that last set this client's lease was sent (worker clock): the lease runs at
   * least until leaseSince + leaseMs. A run goes on only while that is far off, so that a worker
   * frozen past its lease does not go on to requests another worker may have started meanwhile.
   */
  leaseSince: number;
  settled: Promise<void>;
  settle: () => void;
  outcome?: AttemptOutcome;
  /** what its completion tells Redis about the run it is in (see continueRun) */
  next?: string;
}

interface CompletionBatch {
  shard: ShardKeys;
  entries: Running[];
}

/** A run's requests all end in '.' or the next one's id; a request outside any run in ''. */
const RUN_ENDS = '.';

class TimeoutError extends Error {
  readonly code = 'timeout';
}

const TIMEOUT_SWEEP_MS = 50;

function leaseLost(): Error {
  return new Error('lease lost: another worker owns this request now');
}

/**
 * Runs up to `concurrency` requests at once, each of a different client. Free slots are filled by
 * claiming several clients' heads per round trip across the shards that have work; a finished
 * request is completed and its slot refilled from the same shard in one script call. An idle
 * runner waits on the wake channel instead of polling. One heartbeat timer and one timeout
 * sweep serve all running requests: no timer per request.
 */
export class Runner {
  private readonly running = new Map<string, Running>();
  private readonly perShard: number[];
  private readonly hot: boolean[];
  private readonly wakeSeq: number[];
  private readonly wakeup = new Wakeup();
  private readonly completionBatches = new Map<number, CompletionBatch>();
  /** shards with a completion call in flight: the next one waits, so a run's completions arrive in order */
  private readonly sending = new Set<number>();
  /** requests whose completion is on its way after their run's next request took their slot */
  private handedOn = 0;
  private flushScheduled = false;
  private rotation = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly onWake = (_channel: string, readyKey: string) => this.markHot(readyKey);

  constructor(
    private readonly ops: WorkerOps,
    private readonly registry: HandlerRegistry,
    private readonly subscriber: RedisClient,
    private readonly wakeChannel: string,
    private readonly settings: RunnerSettings,
    private readonly log: Logger,
    private readonly hooks: RunnerHooks = {},
  ) {
    const shards = ops.shards.length;
    this.perShard = new Array<number>(shards).fill(0);
    this.hot = new Array<boolean>(shards).fill(true);
    this.wakeSeq = new Array<number>(shards).fill(0);
  }

  get inFlight(): number {
    return this.running.size;
  }

  async start(): Promise<void> {
    this.subscriber.on('message', this.onWake);
    await this.subscriber.subscribe(this.wakeChannel);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.settings.heartbeatMs);
    this.sweepTimer = setInterval(() => this.abortOverdue(), TIMEOUT_SWEEP_MS);
    this.sweepTimer.unref();
    this.loop = this.dispatch();
  }

  /**
   * Stops claiming, lets running handlers finish within `graceMs`, then aborts the rest and gives
   * their leases back so that another worker starts them at once.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.wakeup.notify();
    await this.loop;
    const allSettled = Promise.all([...this.running.values()].map((entry) => entry.settled));
    await Promise.race([allSettled, sleep(graceMs)]);
    // A run's request may still wait for its predecessor's completion to lease it: that goes first.
    await Promise.race([this.completionsSent(), sleep(1_000)]);
    await this.releaseRemaining();
    await Promise.race([Promise.all([...this.running.values()].map((entry) => entry.settled)), sleep(1_000)]);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    this.subscriber.off('message', this.onWake);
    await this.subscriber.unsubscribe(this.wakeChannel).catch(() => undefined);
  }

  private markHot(readyKey: string): void {
    const shard = this.ops.shardOfReadyKey(readyKey);
    if (!shard) return;
    this.hot[shard.index] = true;
    this.wakeSeq[shard.index] = (this.wakeSeq[shard.index] ?? 0) + 1;
    this.wakeup.notify();
  }

  private async dispatch(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const free = this.settings.concurrency - this.slotsInUse();
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await this.claimRound(free);
          failures = 0;
        } catch (error) {
          failures += 1;
          this.log.warn({ err: error }, 'claim failed; retrying');
          await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 5)));
          continue;
        }
      }
      if (claimed > 0 && this.slotsInUse() < this.settings.concurrency) continue;
      const woken = await this.wakeup.wait(this.settings.idleCheckMs ?? 1_000);
      if (!woken) this.hot.fill(true);
    }
  }

  /**
   * Claims up to `free` heads, spread over the shards known to have work, in one round trip.
   * When that claimed nothing because the shards asked turned out empty (fewer free slots than
   * hot shards: not every hot shard is asked), the shards still marked hot are asked at once
   * rather than after the idle wait. Each such pass marks at least one shard idle, so it ends.
   */
  private async claimRound(free: number): Promise<number> {
    for (;;) {
      const shards = this.ops.shards.filter((shard) => this.hot[shard.index]);
      if (shards.length === 0) return 0;
      const offset = this.rotation++ % shards.length;
      const ordered = [...shards.slice(offset), ...shards.slice(0, offset)];
      const share = Math.floor(free / ordered.length);
      const extra = free % ordered.length;
      const asks = ordered
        .map((shard, n) => ({ shard, count: share + (n < extra ? 1 : 0), seq: this.wakeSeq[shard.index] }))
        .filter((ask) => ask.count > 0);
      const runMax = this.runMax();
      const batches = await Promise.all(asks.map((ask) => this.ops.claim(ask.shard, ask.count, runMax)));
      let total = 0;
      let cooled = 0;
      batches.forEach((batch, n) => {
        const ask = asks[n] as (typeof asks)[number];
        // Only a shard that stayed silent since we asked can be marked idle: a wake message sent
        // meanwhile means new work that this claim may not have seen.
        if (batch.remaining === 0 && this.wakeSeq[ask.shard.index] === ask.seq) {
          this.hot[ask.shard.index] = false;
          cooled += 1;
        }
        for (const request of batch.claimed) this.begin(request);
        total += batch.claimed.length;
      });
      if (total > 0 || cooled === 0 || this.stopping) return total;
    }
  }

  /**
   * Runs only while this worker has slots to spare: then a run takes no slot another client is
   * waiting for. With one slot there are none.
   */
  private runMax(slotsAfter = 0): number {
    if (this.settings.concurrency <= 1 || slotsAfter >= this.settings.concurrency) return 1;
    return this.settings.runLength ?? 1;
  }

  /**
   * Slots taken: running requests, less those that ended and handed their slot to their run's next
   * request (their completion is still on its way).
   */
  private slotsInUse(): number {
    return this.running.size - this.handedOn;
  }

  private begin(request: ClaimedRequest, predecessor?: Running): Running {
    const abort = new LazyAbort();
    const startedAt = Date.now();
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const entry: Running = {
      request,
      abort,
      startedAt,
      deadline: startedAt + request.timeoutMs,
      released: false,
      completing: false,
      awaitingLease: predecessor !== undefined,
      // A claimed lease was set while the claim call was out, before this moment: an eighth of the
      // lease is taken off to be safe, well above any round trip.
      leaseSince: predecessor?.leaseSince ?? startedAt - (this.settings.leaseMs >> 3),
      settled,
      settle,
    };
    // This worker may claim a request it still runs: its lease expired (the event loop was
    // blocked longer than the lease) and recovery delivered it again. The older attempt is stale:
    // stop it now, since once replaced here no heartbeat, timeout or shutdown would reach it.
    this.running.get(request.id)?.abort.abort(new Error('lease lost: this request was claimed again'));
    this.running.set(request.id, entry);
    this.perShard[request.shard.index] = (this.perShard[request.shard.index] ?? 0) + 1;
    this.hooks.onStarted?.(request);
    void this.runHandler(entry).then((outcome) => this.queueCompletion(entry, outcome, this.continueRun(entry, outcome)));
    return entry;
  }

  /**
   * After a request of a run ended: starts the run's next request when this one succeeded and
   * the worker has a slot to spare, and returns what the completion tells Redis (see complete.lua):
   * the next request's id, or that the run ends here ('' outside a run).
   */
  private continueRun(entry: Running, outcome: AttemptOutcome): string {
    const run = entry.request.run;
    if (!run) return '';
    const spare = this.slotsInUse() < this.settings.concurrency;
    const leaseFresh = Date.now() - entry.leaseSince < this.settings.leaseMs / 2;
    if (run.length === 0 || !outcome.ok || this.stopping || entry.released || !spare || !leaseFresh) return RUN_ENDS;
    // The run's requests still to come pass on to the next one (one array, not a copy per request).
    const next = run.shift() as ClaimedRequest;
    next.run = run;
    entry.successor = this.begin(next, entry);
    this.handedOn += 1;
    return next.id;
  }

  private async runHandler({ request, abort }: Running): Promise<AttemptOutcome> {
    const handler = this.registry.get(request.type);
    try {
      if (!handler) throw new Error(`this worker has no handler for type "${request.type}"`);
      const payload: unknown = JSON.parse(request.payloadJson);
      const parentLog = this.log;
      let childLog: Logger | undefined;
      const context = {
        requestId: request.id,
        clientId: request.clientId,
        attempt: request.attempt,
        get signal(): AbortSignal {
          return abort.signal;
        },
        // Made on first use: most handlers never log, and a child logger per request costs.
        get log(): Logger {
          childLog ??= parentLog.child({ requestId: request.id, type: request.type, attempt: request.attempt });
          return childLog;
        },
      };
      const result = await abort.race(handler.run(payload, context));
      const resultJson = JSON.stringify(result ?? null);
      if (Buffer.byteLength(resultJson) > this.settings.maxResultBytes) {
        throw new PermanentError(`result larger than ${this.settings.maxResultBytes} bytes`, 'result_too_large');
      }
      return { ok: true, resultJson };
    } catch (caught) {
      const error = abort.reason ?? caught;
      return this.failure(request, error);
    }
  }

  private failure(request: ClaimedRequest, error: unknown): AttemptOutcome {
    const permanent = error instanceof PermanentError;
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | null)?.code;
    return {
      ok: false,
      error: { message: message.slice(0, 2_000), ...(typeof code === 'string' ? { code } : {}) },
      retryDelayMs: permanent ? -1 : retryDelayMs(request.attempt, this.settings.retryBaseMs, this.settings.retryMaxMs),
    };
  }

  /**
   * Completions gather per shard until the event loop turns, then go as one script call: handlers
   * that finish together cost one round trip and one script run, however many they are.
   */
  private queueCompletion(entry: Running, outcome: AttemptOutcome, next: string): void {
    entry.completing = true;
    entry.outcome = outcome;
    entry.next = next;
    const { shard } = entry.request;
    const batch = this.completionBatches.get(shard.index);
    if (batch) batch.entries.push(entry);
    else this.completionBatches.set(shard.index, { shard, entries: [entry] });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushCompletions());
  }

  /**
   * One completion call per shard at a time: what ends meanwhile goes in the next call when this
   * one returns. A run's completions must reach Redis in order (each leases the next request),
   * and fewer, larger calls cost Redis less.
   */
  private flushCompletions(): void {
    this.flushScheduled = false;
    for (const [index, batch] of this.completionBatches) {
      if (this.sending.has(index)) continue;
      this.completionBatches.delete(index);
      this.sending.add(index);
      void this.sendCompletions(batch).finally(() => {
        this.sending.delete(index);
        if (this.completionBatches.has(index)) this.scheduleFlush();
      });
    }
  }

  private async completionsSent(): Promise<void> {
    while (this.sending.size > 0 || this.completionBatches.size > 0) await sleep(5);
  }

  private async sendCompletions({ shard, entries }: CompletionBatch): Promise<void> {
    const sentAt = Date.now();
    // A request followed by its run's next one frees no slot.
    const freed = entries.filter((entry) => !entry.successor).length;
    const claimNext = this.stopping ? 0 : this.refillCount(shard, freed);
    let reply: Awaited<ReturnType<WorkerOps['completeMany']>> | undefined;
    for (let attempt = 0; reply === undefined; attempt += 1) {
      const live = entries.filter((entry) => !entry.released);
      if (live.length === 0) break;
      try {
        // A worker that will have no slot to spare cannot go on with a run: then none is fetched.
        const runMax = this.runMax(this.slotsInUse() - freed + claimNext);
        reply = await this.ops.completeMany(shard, live.map(toCompletion), claimNext, runMax);
        this.afterCompletion(live, reply.results, sentAt);
      } catch (error) {
        // Redis unreachable: keep the results and try again. If a lease expires meanwhile, that
        // request is delivered again and its completion refused as stale: never lost.
        this.log.warn({ err: error, shard: shard.index, attempt }, 'completion failed; retrying');
        await sleep(Math.min(2_000, 50 * 2 ** Math.min(attempt, 6)));
      }
    }
    for (const entry of entries) {
      // A stale attempt replaced by a newer claim of the same request must not drop the newer one.
      if (this.running.get(entry.request.id) === entry) this.running.delete(entry.request.id);
      this.perShard[shard.index] = (this.perShard[shard.index] ?? 1) - 1;
      if (entry.successor) this.handedOn -= 1;
      entry.settle();
    }
    if (!reply) return;
    if (reply.remaining > 0) this.hot[shard.index] = true;
    for (const next of reply.claimed) this.begin(next);
    if (reply.claimed.length < freed) this.wakeup.notify();
  }

  private afterCompletion(entries: Running[], results: CompletionResult[], sentAt: number): void {
    entries.forEach((entry, n) => {
      const result = results[n] ?? 'stale';
      const outcome = entry.outcome as AttemptOutcome;
      if (result === 'stale') this.log.warn({ requestId: entry.request.id }, 'lease was lost; completion refused');
      if (result === 'retrying' && !outcome.ok) this.hooks.onRetryScheduled?.(outcome.retryDelayMs);
      if (entry.successor) this.successorLeased(entry.successor, result === 'succeeded', sentAt);
      this.hooks.onFinished?.(entry.request, result, outcome, Date.now() - entry.startedAt);
    });
  }

  /** The run's next request is leased now, or, when its predecessor's claim had been lost, never will be. */
  private successorLeased(successor: Running, leased: boolean, sentAt: number): void {
    successor.awaitingLease = false;
    successor.leaseSince = sentAt;
    if (!leased) successor.abort.abort(leaseLost());
  }

  /**
   * Freed slots refill from their own shard only up to its fair share of the slots (concurrency /
   * hot shards, this one included, rounded down); the others go back to the dispatcher, which
   * gives them to the next shards with work, so a shard full of busy clients cannot starve the
   * clients of another shard. With fewer slots than hot shards no shard keeps a slot: each freed
   * slot goes round the shards.
   */
  private refillCount(shard: ShardKeys, freed: number): number {
    const hotShards = this.hot.filter((hot, index) => hot || index === shard.index).length;
    const fairShare = Math.floor(this.settings.concurrency / hotShards);
    const keptAfter = (this.perShard[shard.index] ?? 0) - freed;
    return Math.max(0, Math.min(freed, fairShare - keptAfter));
  }

  private async heartbeat(): Promise<void> {
    const byShard = new Map<ShardKeys, Running[]>();
    for (const entry of this.running.values()) {
      if (entry.released || entry.completing || entry.awaitingLease) continue;
      const list = byShard.get(entry.request.shard) ?? [];
      list.push(entry);
      byShard.set(entry.request.shard, list);
    }
    await Promise.all(
      [...byShard].map(async ([shard, entries]) => {
        try {
          const sentAt = Date.now();
          const lost = await this.ops.heartbeat(
            shard,
            entries.map(({ request }) => request),
          );
          const lostIds = new Set(lost);
          for (const entry of entries) if (!lostIds.has(entry.request.id)) entry.leaseSince = sentAt;
          for (const id of lost) {
            const entry = this.running.get(id);
            if (!entry || entry.completing) continue;
            this.log.warn({ requestId: id }, 'lease lost; aborting the handler');
            entry.abort.abort(leaseLost());
          }
        } catch (error) {
          this.log.warn({ err: error }, 'heartbeat failed');
        }
      }),
    );
  }

  private abortOverdue(): void {
    const now = Date.now();
    for (const entry of this.running.values()) {
      if (now >= entry.deadline && !entry.abort.aborted) {
        entry.abort.abort(new TimeoutError(`timed out after ${entry.request.timeoutMs} ms`));
      }
    }
  }

  private async releaseRemaining(): Promise<void> {
    const byShard = new Map<ShardKeys, Running[]>();
    for (const entry of this.running.values()) {
      entry.released = true;
      entry.abort.abort(new Error('worker shutting down'));
      const list = byShard.get(entry.request.shard) ?? [];
      list.push(entry);
      byShard.set(entry.request.shard, list);
    }
    await Promise.all(
      [...byShard].map(([shard, entries]) =>
        this.ops
          .releaseLeases(
            shard,
            entries.map(({ request }) => request),
          )
          .then((released) => this.log.info({ released: released.length }, 'leases given back'))
          .catch((error: unknown) => this.log.warn({ err: error }, 'could not give leases back; they will expire')),
      ),
    );
  }
}

function toCompletion(entry: Running): Completion {
  return { request: entry.request, outcome: entry.outcome as AttemptOutcome, next: entry.next ?? '' };
}
