--[[ release_leases: a worker shutting down gives back requests it will not finish, so another
worker starts them at once instead of waiting for the lease to expire.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3..] groups of 3: client, id, fence
Returns the ids given back. The interrupted attempt is not counted against maxAttempts: the
request did not fail, its worker left. Its client re-enters the ring at the head; a run it was in
ends there (the worker gives back only the request it was running: the rest never started). ]]
--- @include "includes/shard_keys"
--- @include "includes/claim_heads"

local now = nowMs()
local released = {}
for i = 3, #ARGV, 3 do
  local client, id = ARGV[i], ARGV[i + 1]
  local record = leasedHead(client, id, ARGV[i + 2])
  if record then
    redis.call('ZREM', KEYS[3], client)
    redis.call('HDEL', RUNS, client)
    record.l = 0
    record.a = record.a - 1
    redis.call('HSET', KEYS[8], client, encodeRecord(record))
    pushReady(client, true)
    emitEvent(client, id, 'queued', record.a, now)
    released[#released + 1] = id
  end
end
readyLengthAndWake()
return released
