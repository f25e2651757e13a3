import { readFileSync } from 'node:fs';
import type { RedisClient } from '../redis/connect.js';
import type { ShardKeys } from './keys.js';

/** Found from both src/queue and dist/queue: the Lua files ship as they are. */
const LUA_DIR = new URL('../../src/queue/lua/', import.meta.url);

export const SCRIPT_NAMES = [
  'enqueue',
  'claim',
  'complete',
  'heartbeat',
  'recover_expired_leases',
  'promote_due_retries',
  'cancel',
  'release_leases',
  'mark_client_gone',
  'get_request',
  'dequeue_result',
  'client_stats',
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

const INCLUDE = /^--- @include "([a-z_/]+)"$/gm;

/** Inlines `--- @include "includes/x"` lines, each file once, so shared Lua is written once. */
export function loadLua(name: string, seen = new Set<string>()): string {
  const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return source.replace(INCLUDE, (_line, include: string) => {
    if (seen.has(include)) return '';
    seen.add(include);
    return loadLua(include, seen);
  });
}

type ScriptArg = string | number;
type ScriptFunction = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * The only caller of the engine's Lua scripts. Each script is registered once per connection with
 * ioredis `defineCommand` (EVALSHA, loading the script again after a Redis restart) and always
 * takes the eight shard keys, so the same call works on a single Redis and on a Cluster.
 */
export class Scripts {
  constructor(
    private readonly redis: RedisClient,
    private readonly wakeChannel: string,
  ) {
    for (const name of SCRIPT_NAMES) {
      if (!(commandName(name) in redis)) redis.defineCommand(commandName(name), { numberOfKeys: 8, lua: loadLua(name) });
    }
  }

  run(name: ScriptName, shard: ShardKeys, args: ScriptArg[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFunction>)[commandName(name)] as ScriptFunction;
    return fn.call(this.redis, ...shard.keys, shard.base, this.wakeChannel, ...args);
  }
}

function commandName(name: ScriptName): string {
  return `laneq_${name}`;
}
