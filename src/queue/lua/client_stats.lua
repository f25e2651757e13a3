--[[ client_stats: one client's queue figures, read atomically.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
Returns {pending, running, succeeded, failed, cancelled, oldestPendingEnqueuedAt (-1 if none),
now}. pending counts queued requests, including one waiting for its retry. ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client = ARGV[3]
local head = redis.call('HGET', KEYS[8], client)
local length = (head and 1 or 0) + backlogLength(client)
local running, oldest = 0, -1
if head then
  local record = cjson.decode(head)
  if isLeased(record) then
    running = 1
    local raw = backlogRecordAt(client, 0)
    if raw then oldest = cjson.decode(raw).e end
  else
    oldest = record.e
  end
end
local counts = redis.call('HMGET', base .. 'client:' .. client, 'succeeded', 'failed', 'cancelled')
return { length - running, running, tonumber(counts[1] or 0), tonumber(counts[2] or 0), tonumber(counts[3] or 0),
  oldest, nowMs() }
