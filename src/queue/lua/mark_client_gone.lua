--[[ mark_client_gone: records that a client logged out. Its pending requests still run; once its
queue is drained nothing of it remains in Redis but the bounded finished-record retention.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
ARGV[4] retentionMs  the mark expires with the client's other short-lived keys
Returns 1 when the client's keys were removed at once (nothing pending), 0 when removal waits for
the queue to drain (advanceClient in includes/finish.lua does it then). ]]
--- @include "includes/shard_keys"

local client = ARGV[3]
if redis.call('LLEN', base .. 'q:' .. client) == 0 then
  redis.call('DEL', base .. 'client:' .. client, base .. 'idem:' .. client)
  return 1
end
redis.call('HSET', base .. 'client:' .. client, 'gone', '1')
redis.call('PEXPIRE', base .. 'client:' .. client, tonumber(ARGV[4]))
return 0
