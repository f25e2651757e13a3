--[[ release_leases: a worker shutting down gives back requests it will not finish, so another
worker starts them at once instead of waiting for the lease to expire.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3..] pairs: id, fence
Returns the ids given back. The interrupted attempt is not counted against maxAttempts: the
request did not fail, its worker left. Its client re-enters the ring at the head. ]]
--- @include "includes/shard_keys"

local released = {}
for i = 3, #ARGV, 2 do
  local id, fence = ARGV[i], ARGV[i + 1]
  local owner = redis.call('HGET', KEYS[3], id)
  if owner then
    local ownerFence, client = string.match(owner, '^(%d+):(.*)$')
    if ownerFence == fence then
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
      local record = cjson.decode(redis.call('HGET', KEYS[2], id))
      record.a = record.a - 1
      redis.call('HSET', KEYS[2], id, cjson.encode(record))
      redis.call('LPUSH', KEYS[1], client)
      released[#released + 1] = id
    end
  end
end
wakeWorkersIfNeeded()
return released
