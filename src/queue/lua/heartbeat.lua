--[[ heartbeat: extends the leases of requests a worker is still running.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] leaseMs   new lease length from now
ARGV[4..]         groups of 3: client, id, fence
Returns the ids whose fence no longer holds (lease lost): the worker must abort those handlers,
because another worker may already be running them. ]]
--- @include "includes/shard_keys"
--- @include "includes/claim_heads"

local deadline = nowMs() + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV, 3 do
  local client, id, fence = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[8], client)
  if raw and holdsLease(raw, id, fence) then
    redis.call('ZADD', KEYS[3], 'XX', deadline, client)
  else
    lost[#lost + 1] = id
  end
end
return lost
