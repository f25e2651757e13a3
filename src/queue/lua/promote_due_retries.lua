--[[ promote_due_retries: puts clients whose head's retry is due back into the ready ring.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] limit  most clients promoted in one call
Returns {promoted, nextDueMs}: how many clients re-entered the ring, and in how many ms the next
waiting retry is due (Redis clock) or -1, so workers sleep exactly until then instead of polling. ]]
--- @include "includes/shard_keys"
--- @include "includes/record"

local now = nowMs()
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
-- The head's retry time is cleared here, so that claiming it (the hot path) never has to.
local function clearRetryTime(client)
  local raw = redis.call('HGET', KEYS[8], client)
  if not raw then return end
  local record = cjson.decode(raw)
  record.w = nil
  redis.call('HSET', KEYS[8], client, encodeRecord(record))
end

for _, client in ipairs(due) do
  redis.call('ZREM', KEYS[4], client)
  clearRetryTime(client)
  pushReady(client)
end
readyLengthAndWake()
local nextDue = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
return { #due, nextDue[2] and tonumber(nextDue[2]) - now or -1 }
