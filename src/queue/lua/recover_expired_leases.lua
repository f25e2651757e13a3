--[[ recover_expired_leases: takes back requests whose worker stopped heartbeating (crashed,
frozen or cut off) and delivers them again first, or dead-letters them after maxAttempts.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] limit        most leases recovered in one call (keeps each call short)
ARGV[4] retentionMs  as in complete.lua
ARGV[5] keep         as in complete.lua
Returns {redelivered, deadLettered}: two lists of request ids.
The expired attempt counts: a request that keeps killing its worker ends dead-lettered instead of
taking the fleet down forever. The client re-enters the ring at its head so that the redelivery
starts first; its position in its own queue never changed. When the lease held a run of the
client's requests (see includes/claim_heads.lua), the worker may have started any of the run's
requests after the head as well: each of them counts an attempt that ended with the lease too
(one with no attempts left is dead-lettered), and all keep their place in the queue. ]]
--- @include "includes/shard_keys"
local retentionMs = tonumber(ARGV[4])
--- @include "includes/finish"

local now = nowMs()
local keep = tonumber(ARGV[5])
local redelivered, deadLettered = {}, {}
local OUT_OF_ATTEMPTS = { message = 'lease expired on every attempt', code = 'lease_expired' }

-- The requests after the head of the run the expired lease held, if any (see the header). Redis
-- never saw them start: each counted attempt is recorded as starting and ending now, after the
-- head's, which keeps the client's attempts in order on Redis's clock.
local function recoverRunMembers(client)
  local lastIndex = runEndIndex(client)
  redis.call('HDEL', RUNS, client)
  if not lastIndex then return end
  local entries = backlogEntries(client, 0, lastIndex)
  local removed = 0
  for n = 1, #entries, 2 do
    local id, index = entries[n], (n - 1) / 2 - removed
    local record = cjson.decode(entries[n + 1])
    record.i = id
    record.k = record.k + 1 -- the fence the run's worker held for it
    record.a = (record.a or 0) + 1
    record.s = now
    record.l = 0
    recordAttemptFailure(record, { message = 'lease expired: the worker stopped responding during a run of this client', code = 'lease_expired' }, now)
    if record.a >= record.m then
      finish(client, record, 'failed', nil, OUT_OF_ATTEMPTS, now, keep)
      removeBacklogAt(client, index)
      removed = removed + 1
      deadLettered[#deadLettered + 1] = id
    else
      replaceBacklogRecord(client, index, encodeRecord(record))
    end
  end
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, client in ipairs(expired) do
  redis.call('ZREM', KEYS[3], client)
  local raw = redis.call('HGET', KEYS[8], client)
  local record = raw and cjson.decode(raw)
  if record and isLeased(record) then
    local id = record.i
    recoverRunMembers(client)
    record.l = 0
    recordAttemptFailure(record, { message = 'lease expired: the worker stopped responding', code = 'lease_expired' }, now)
    if record.a >= record.m then
      finish(client, record, 'failed', nil, OUT_OF_ATTEMPTS, now, keep)
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
flushBacklogCount()
readyLengthAndWake()
return { redelivered, deadLettered }
