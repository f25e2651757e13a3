import type { ShardKeys } from './keys.js';
import type { QueueEngine } from './engine.js';
import type { RequestError, StoredRecord } from './records.js';

/** A request claimed by a worker, under a lease it must keep alive. */
export interface ClaimedRequest {
  shard: ShardKeys;
  clientId: string;
  id: string;
  /** fencing token: only the latest claim's token can end the attempt */
  fence: string;
  type: string;
  payloadJson: string;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  enqueuedAt: number;
}

/** What names one claim: a lease is the client's (one request in flight per client). */
export type LeaseHolder = Pick<ClaimedRequest, 'clientId' | 'id' | 'fence'>;

export interface ClaimBatch {
  /** clients still waiting in the shard's ready ring after this claim */
  remaining: number;
  claimed: ClaimedRequest[];
}

export type AttemptOutcome = { ok: true; resultJson: string } | { ok: false; error: RequestError; retryDelayMs: number };

export type CompletionResult = 'succeeded' | 'failed' | 'retrying' | 'stale';

export interface WorkerOpsSettings {
  leaseMs: number;
  retentionMs: number;
  retentionCount: number;
}

/** client, id, fence, attempt, the record as stored (JSON) */
type RawClaim = [string, string, number, number, string];

/** The worker side of the engine: every call is one script on one shard. */
export class WorkerOps {
  constructor(
    private readonly engine: QueueEngine,
    private readonly settings: WorkerOpsSettings,
  ) {}

  get shards(): ShardKeys[] {
    return this.engine.keys.shards;
  }

  /** The shard a wake message names. */
  shardOfReadyKey(readyKey: string): ShardKeys | undefined {
    return this.engine.keys.shardOfReadyKey(readyKey);
  }

  async claim(shard: ShardKeys, count: number): Promise<ClaimBatch> {
    const [remaining, raw] = (await this.engine.scripts.run('claim', shard, [count, this.settings.leaseMs])) as [
      number,
      RawClaim[],
    ];
    return { remaining, claimed: raw.map((entry) => toClaimed(shard, entry)) };
  }

  /**
   * Ends attempts of one shard and, in the same round trip, claims up to `claimNext` heads of that
   * shard for the freed slots. results[i] answers completions[i].
   */
  async completeMany(
    shard: ShardKeys,
    completions: { request: ClaimedRequest; outcome: AttemptOutcome }[],
    claimNext: number,
  ): Promise<{ results: CompletionResult[] } & ClaimBatch> {
    const args: (string | number)[] = [this.settings.retentionMs, this.settings.retentionCount, claimNext, this.settings.leaseMs];
    for (const { request, outcome } of completions) {
      args.push(
        request.id,
        request.clientId,
        request.fence,
        outcome.ok ? 'ok' : 'error',
        outcome.ok ? outcome.resultJson : JSON.stringify(outcome.error),
        outcome.ok ? 0 : outcome.retryDelayMs,
      );
    }
    const [results, remaining, raw] = (await this.engine.scripts.run('complete', shard, args)) as [
      CompletionResult[],
      number,
      RawClaim[],
    ];
    return { results, remaining, claimed: raw.map((entry) => toClaimed(shard, entry)) };
  }

  /** Ends one attempt; see completeMany. */
  async complete(
    request: ClaimedRequest,
    outcome: AttemptOutcome,
    claimNext: number,
  ): Promise<{ result: CompletionResult } & ClaimBatch> {
    const { results, remaining, claimed } = await this.completeMany(request.shard, [{ request, outcome }], claimNext);
    return { result: results[0] as CompletionResult, remaining, claimed };
  }

  /** Extends leases; returns the ids whose lease was lost (their handlers must stop). */
  async heartbeat(shard: ShardKeys, running: LeaseHolder[]): Promise<string[]> {
    const args: (string | number)[] = [this.settings.leaseMs];
    for (const { clientId, id, fence } of running) args.push(clientId, id, fence);
    return (await this.engine.scripts.run('heartbeat', shard, args)) as string[];
  }

  async recoverExpiredLeases(shard: ShardKeys, limit = 500): Promise<{ redelivered: string[]; deadLettered: string[] }> {
    const [redelivered, deadLettered] = (await this.engine.scripts.run('recover_expired_leases', shard, [
      limit,
      this.settings.retentionMs,
      this.settings.retentionCount,
    ])) as [string[], string[]];
    return { redelivered, deadLettered };
  }

  /** Returns how many clients were promoted and in how many ms the next retry is due (-1: none). */
  async promoteDueRetries(shard: ShardKeys, limit = 1_000): Promise<{ promoted: number; nextDueInMs: number }> {
    const [promoted, nextDueInMs] = (await this.engine.scripts.run('promote_due_retries', shard, [limit])) as [
      number,
      number,
    ];
    return { promoted, nextDueInMs };
  }

  async releaseLeases(shard: ShardKeys, running: LeaseHolder[]): Promise<string[]> {
    const args: string[] = [];
    for (const { clientId, id, fence } of running) args.push(clientId, id, fence);
    return (await this.engine.scripts.run('release_leases', shard, args)) as string[];
  }
}

function toClaimed(shard: ShardKeys, raw: RawClaim): ClaimedRequest {
  const [clientId, id, fence, attempt, json] = raw;
  const stored = JSON.parse(json) as Pick<StoredRecord, 't' | 'p' | 'm' | 'o' | 'e'>;
  return {
    shard,
    clientId,
    id,
    fence: String(fence),
    type: stored.t,
    payloadJson: stored.p,
    attempt,
    maxAttempts: stored.m,
    timeoutMs: stored.o,
    enqueuedAt: stored.e,
  };
}
