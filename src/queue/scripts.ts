import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from '../redis/connect.js';
import { SHARD_KEY_NAMES, type ShardKeys } from './keys.js';

/** Beside this module: `npm run build` copies the Lua files into dist/ with the code that calls them. */
const LUA_DIR = new URL('./lua/', import.meta.url);

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
  'client_events_since',
  'list_client_requests',
  'requeue_dead_letter',
  'upgrade_client_layout',
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

interface LoadedScript {
  lua: string;
  sha: string;
}

/**
 * The only caller of the engine's Lua scripts. Each script is sent by SHA (EVALSHA); a Redis that
 * does not know it yet (first call, restart, failover, another Cluster node) answers NOSCRIPT and
 * gets the source once by EVAL, which also caches it there. Every script takes the eight shard keys,
 * so the same call works on a single Redis and on a Cluster.
 *
 * Why not ioredis `defineCommand`: inside a pipeline (and so with auto-pipelining) it cannot tell
 * that the connection already has the script and sends the whole source with every call, which
 * costs both sides more than the script itself.
 */
export class Scripts {
  private readonly scripts: Record<ScriptName, LoadedScript>;

  constructor(
    private readonly redis: RedisClient,
    private readonly wakeChannel: string,
  ) {
    this.scripts = Object.fromEntries(
      SCRIPT_NAMES.map((name) => {
        const lua = loadLua(name);
        return [name, { lua, sha: createHash('sha1').update(lua).digest('hex') }];
      }),
    ) as Record<ScriptName, LoadedScript>;
  }

  async run(name: ScriptName, shard: ShardKeys, args: ScriptArg[]): Promise<unknown> {
    const script = this.scripts[name];
    const tail = [...shard.keys, shard.base, this.wakeChannel, ...args];
    try {
      return await this.redis.evalsha(script.sha, SHARD_KEY_NAMES.length, ...tail);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(script.lua, SHARD_KEY_NAMES.length, ...tail);
    }
  }
}
