--[[ dequeue_result: takes the oldest finished request off a client's outbox.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
Returns {id, final record JSON or false} — false when the record has already left Redis
retention (the caller reads it from the PostgreSQL archive) — or false when the outbox is empty. ]]
--- @include "includes/shard_keys"

local id = redis.call('LPOP', base .. 'out:' .. ARGV[3])
if not id then return false end
return { id, redis.call('GET', base .. 'done:' .. id) or false }
