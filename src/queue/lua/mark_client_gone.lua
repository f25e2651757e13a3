--[[ mark_client_gone: records that a client logged out. Its pending requests still run; once its
queue is drained nothing of it remains in Redis but the expiring finished-record retention.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
ARGV[4] retentionMs  the retention countdown of the client's finished records
Returns 1 when the client was already drained (its keys are gone or expiring now), 0 when that
waits for its queue to drain (advanceClient in includes/finish.lua does it then). ]]
--- @include "includes/shard_keys"

local client = ARGV[3]
local meta = base .. 'client:' .. client
if redis.call('HEXISTS', KEYS[8], client) == 0 then
  redis.call('DEL', base .. 'idem:' .. client)
  redis.call('HDEL', meta, 'gone')
  startRetentionCountdown(client, tonumber(ARGV[4]))
  return 1
end
redis.call('HSET', meta, 'gone', '1')
return 0
