--[[ dequeue_result: hands out the oldest finished request of a client not yet dequeued.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
The outbox is fin:<client> read through a cursor: the client's counters (succeeded + failed +
cancelled) number its finished requests, field `deq` of client:<client> counts those dequeued,
and fin:<client> holds the latest of them. Requests trimmed from retention are skipped.
Returns {id, final record JSON or false} — false when the record has already left Redis
retention (the caller reads it from the PostgreSQL archive) — or false when none is waiting. ]]
--- @include "includes/shard_keys"

local client = ARGV[3]
local meta = base .. 'client:' .. client
local finished = base .. 'fin:' .. client
local counts = redis.call('HMGET', meta, 'succeeded', 'failed', 'cancelled', 'deq')
local total = tonumber(counts[1] or 0) + tonumber(counts[2] or 0) + tonumber(counts[3] or 0)
local length = redis.call('LLEN', finished)
local first = total - length
local cursor = math.max(tonumber(counts[4] or 0), first)
if cursor >= total then return false end
local id = redis.call('LINDEX', finished, cursor - first)
redis.call('HSET', meta, 'deq', cursor + 1)
return { id, finalRecord(client, id) or false }
