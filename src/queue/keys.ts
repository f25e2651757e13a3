/**
 * The Redis key layout. Every key of the engine is `<prefix>:{s<n>}:<name>`: the `{s<n>}` hash
 * tag puts all keys of shard n in one Redis Cluster slot, so every script touches one slot.
 * A client lives in exactly one shard, chosen by a stable hash of its id.
 *
 * Per shard (passed to every script as KEYS[1..8], in this order):
 *   ready    LIST   clients whose head request can start now (the round-robin ring)
 *   jobs     HASH   unused since backlog records moved into q:<client>; read by the layout upgrade only,
 *                   and where it exists start-up stops until the upgrade has run (assertCurrentLayout)
 *   leases   ZSET   clients whose head is running, by lease deadline (ms, Redis clock)
 *   delayed  ZSET   client ids by the due time of their head's retry
 *   archive  STREAM final records on their way to PostgreSQL
 *   stats    HASH   shard totals of failed and cancelled requests, and `backlog`: requests behind heads
 *   watch    ZSET   clients whose request events an API process wants (open long polls and
 *                   event streams), scored by until when (ms, Redis clock)
 *   heads    HASH   client id -> JSON record of its head request (running ones carry their lease
 *                   mark and the fencing token of their latest claim); a field iff it has work
 * Per client, derived inside the scripts from the shard's key base:
 *   q:<client>       LIST   the client's requests behind its head (its backlog), oldest first: each
 *                           one's id, then its record; absent while it has one request or none
 *   fin:<client>     LIST   ids of its finished requests, oldest first (count-bounded retention);
 *                           also its outbox, read through the cursor `deq` of client:<client>
 *   res:<client>     HASH   request id -> final record JSON of the requests fin:<client> lists
 *   idem:<client>    HASH   idempotency key -> request id
 *   client:<client>  HASH   its counters (succeeded, failed, cancelled), outbox cursor, logged-out mark
 *   done:<id>        STRING a final record as versions before res:<client> kept it: still read, no
 *                           longer written, gone by itself after the retention window
 *   revoked:<family> STRING a logged-out session family of one of the shard's clients (auth)
 *   rl:<client>      STRING the client's enqueue calls in the current second (rate limit)
 * Per shard and 30-second window: calls:<n> HASH, the last new id of each enqueue call applied,
 * kept a minute, which tells a call ioredis sent again (enqueue.lua).
 * Pub/sub: `<prefix>:wake` wakes idle workers; `<prefix>:{s<n>}:events` carries the state changes
 * of watched clients. Outside the shards: the auth keys.
 */
export const SHARD_KEY_NAMES = ['ready', 'jobs', 'leases', 'delayed', 'archive', 'stats', 'watch', 'heads'] as const;

export interface ShardKeys {
  index: number;
  /** `<prefix>:{s<n>}:`, the base of the per-client keys built inside the scripts */
  base: string;
  /** KEYS[1..8] of every engine script */
  keys: string[];
  archive: string;
  /** pub/sub channel of the state changes of this shard's watched clients */
  events: string;
  watch: string;
}

/** FNV-1a: fast, stable across processes and versions, and spreads uuids evenly. */
export function shardOf(clientId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < clientId.length; i += 1) {
    hash ^= clientId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export class KeySpace {
  readonly shards: ShardKeys[];
  readonly wakeChannel: string;

  constructor(
    readonly prefix: string,
    shardCount: number,
  ) {
    this.wakeChannel = `${prefix}:wake`;
    this.shards = Array.from({ length: shardCount }, (_, index) => {
      const base = `${prefix}:{s${index}}:`;
      const keys = SHARD_KEY_NAMES.map((name) => base + name);
      return { index, base, keys, archive: `${base}archive`, events: `${base}events`, watch: `${base}watch` };
    });
  }

  forClient(clientId: string): ShardKeys {
    return this.shards[shardOf(clientId, this.shards.length)] as ShardKeys;
  }

  /** The shard named by a wake message (the message is the shard's ready key). */
  shardOfReadyKey(readyKey: string): ShardKeys | undefined {
    return this.shards.find((shard) => shard.keys[0] === readyKey);
  }

  /**
   * Where a logged-out session family of `clientId` is remembered: in the client's shard, so that
   * enqueue.lua checks it in the same script call as the enqueue itself.
   */
  revokedKey(clientId: string, familyId: string): string {
    return `${this.forClient(clientId).base}revoked:${familyId}`;
  }

  clientKeys(clientId: string): string[] {
    const { base } = this.forClient(clientId);
    return ['q', 'fin', 'res', 'idem', 'client'].map((name) => `${base}${name}:${clientId}`);
  }
}
