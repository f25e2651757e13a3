--[[ release_leases: a worker shutting down gives back requests it will not finish, so another
worker starts them at once instead of waiting for the lease to expire.
KEYS[1..7] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3..] pairs: id, fence
Returns the ids given back. The interrupted attempt is not counted against maxAttempts: the
request did not fail, its worker left. Its client re-enters the ring at the head. ]]
--- @include "includes/shard_keys"
--- @include "includes/claim_heads"

local now = nowMs()
local released = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local record = leasedRecord(id, ARGV[i + 1])
  if record then
    redis.call('ZREM', KEYS[3], id)
    record.l = 0
    record.a = record.a - 1
    redis.call('HSET', KEYS[2], id, encodeRecord(record))
    pushReady(record.c, true)
    emitEvent(record.c, id, 'queued', record.a, now)
    released[#released + 1] = id
  end
end
readyLengthAndWake()
return released
