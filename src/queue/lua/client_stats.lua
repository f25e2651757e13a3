--[[ client_stats: one client's queue figures, read atomically.
KEYS[1..7] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
Returns {pending, running, succeeded, failed, cancelled, oldestPendingEnqueuedAt (-1 if none),
now}. pending counts queued requests, including one waiting for its retry. ]]
--- @include "includes/shard_keys"
--- @include "includes/record"

local client = ARGV[3]
local queue = base .. 'q:' .. client
local length = redis.call('LLEN', queue)
local running, oldest = 0, -1
if length > 0 then
  local head = cjson.decode(redis.call('HGET', KEYS[2], redis.call('LINDEX', queue, 0)) or '{}')
  if isLeased(head) then running = 1 end
  local firstPending = redis.call('LINDEX', queue, running)
  if firstPending then
    local raw = redis.call('HGET', KEYS[2], firstPending)
    if raw then oldest = cjson.decode(raw).e end
  end
end
local counts = redis.call('HMGET', base .. 'client:' .. client, 'succeeded', 'failed', 'cancelled')
return { length - running, running, tonumber(counts[1] or 0), tonumber(counts[2] or 0), tonumber(counts[3] or 0),
  oldest, nowMs() }
