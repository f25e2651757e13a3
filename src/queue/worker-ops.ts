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
  /**
   * The client's requests that follow this one in a run (claim_heads.lua): the worker runs them one
   * after another, in order, each named as `next` in its predecessor's completion.
   */
  run?: ClaimedRequest[];
}

/** What names one claim: a lease is the client's (one request in flight per client). */
export type LeaseHolder = Pick<ClaimedRequest, 'clientId' | 'id' | 'fence'>;

export interface ClaimBatch {
  /** clients still waiting in the shard's ready ring after this claim */
  remaining: number;
  claimed: ClaimedRequest[];
}

export type AttemptOutcome = { ok: true; resultJson: string } | { ok: false; error: RequestError; retryDelayMs: number };

/** Ending an attempt: inside a run, `next` is the run's next request's id, or '.' where the run ends. */
export interface Completion {
  request: ClaimedRequest;
  outcome: AttemptOutcome;
  next?: string;
}

export type CompletionResult = 'succeeded' | 'failed' | 'retrying' | 'stale';

export interface WorkerOpsSettings {
  leaseMs: number;
  retentionMs: number;
  retentionCount: number;
  /** most requests of one client started in a row while others wait (complete.lua's turnLength) */
  turnLength: number;
}

/** client, id, fence, attempt, the record as stored (JSON), then the run that follows: id, backlog record JSON, … */
type RawClaim = [string, string, number, number, string, string[]?];

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

  /** Claims up to `count` heads; `runMax` > 1 lets a claim bring a run of its client's requests. */
  async claim(shard: ShardKeys, count: number, runMax = 1): Promise<ClaimBatch> {
    const [remaining, raw] = (await this.engine.scripts.run('claim', shard, [count, this.settings.leaseMs, runMax])) as [
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
    completions: Completion[],
    claimNext: number,
    runMax = 1,
  ): Promise<{ results: CompletionResult[] } & ClaimBatch> {
    const { retentionMs, retentionCount, leaseMs, turnLength } = this.settings;
    const args: (string | number)[] = [retentionMs, retentionCount, claimNext, leaseMs, runMax, turnLength];
    for (const { request, outcome, next } of completions) {
      args.push(
        request.id,
        request.clientId,
        request.fence,
        outcome.ok ? 'ok' : 'error',
        outcome.ok ? outcome.resultJson : JSON.stringify(outcome.error),
        outcome.ok ? 0 : outcome.retryDelayMs,
        next ?? '',
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
  const [clientId, id, fence, attempt, json, run] = raw;
  const claimed = fromRecord(shard, clientId, id, String(fence), attempt, json);
  if (run) claimed.run = runMembers(shard, clientId, run);
  return claimed;
}

type ClaimRecord = Pick<StoredRecord, 't' | 'p' | 'm' | 'o' | 'e'> & { k: number; a?: number };

function fromRecord(
  shard: ShardKeys,
  clientId: string,
  id: string,
  fence: string,
  attempt: number,
  json: string,
): ClaimedRequest {
  const stored = JSON.parse(json) as ClaimRecord;
  return {
    shard,
    clientId,
    id,
    fence,
    type: stored.t,
    payloadJson: stored.p,
    attempt,
    maxAttempts: stored.m,
    timeoutMs: stored.o,
    enqueuedAt: stored.e,
  };
}

/** A run's requests, as complete.lua will lease each: fence k + 1, attempt a + 1. */
function runMembers(shard: ShardKeys, clientId: string, flat: string[]): ClaimedRequest[] {
  const members: ClaimedRequest[] = [];
  for (let n = 0; n + 1 < flat.length; n += 2) {
    const id = flat[n] as string;
    const json = flat[n + 1] as string;
    const { k, a } = JSON.parse(json) as ClaimRecord;
    members.push(fromRecord(shard, clientId, id, String(k + 1), (a ?? 0) + 1, json));
  }
  return members;
}
