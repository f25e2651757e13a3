--[[ recover_expired_leases: takes back requests whose worker stopped heartbeating (crashed,
frozen or cut off) and delivers them again first, or dead-letters them after maxAttempts.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] limit        most leases recovered in one call (keeps each call short)
ARGV[4] retentionMs  as in complete.lua
ARGV[5] keep         as in complete.lua
Returns {redelivered, deadLettered}: two lists of request ids.
The expired attempt counts: a request that keeps killing its worker ends dead-lettered instead of
taking the fleet down forever. The client re-enters the ring at its head so that the redelivery
starts first; its position in its own queue never changed. ]]
--- @include "includes/shard_keys"
local retentionMs = tonumber(ARGV[4])
--- @include "includes/finish"

local now = nowMs()
local redelivered, deadLettered = {}, {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, client in ipairs(expired) do
  redis.call('ZREM', KEYS[3], client)
  local raw = redis.call('HGET', KEYS[8], client)
  local record = raw and cjson.decode(raw)
  if record and isLeased(record) then
    local id = record.i
    record.l = 0
    recordAttemptFailure(record, { message = 'lease expired: the worker stopped responding', code = 'lease_expired' }, now)
    if record.a >= record.m then
      finish(client, record, 'failed', nil, { message = 'lease expired on every attempt', code = 'lease_expired' },
        now, tonumber(ARGV[5]))
      advanceClient(client)
      deadLettered[#deadLettered + 1] = id
    else
      redis.call('HSET', KEYS[8], client, encodeRecord(record))
      pushReady(client, true)
      emitEvent(client, id, 'queued', record.a, now)
      redelivered[#redelivered + 1] = id
    end
  end
end
flushArchive()
readyLengthAndWake()
return { redelivered, deadLettered }
