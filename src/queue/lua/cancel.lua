--[[ cancel: cancels a request that has not started; it will never run.
KEYS[1..7] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client       the caller; another client's request is reported as not found
ARGV[4] id
ARGV[5] retentionMs  as in complete.lua
ARGV[6] keep         as in complete.lua
Returns {outcome, record}: outcome 'cancelled' (record = the final JSON), 'not_cancellable'
(running, waiting for a retry after an attempt, or already finished) or 'not_found'. ]]
--- @include "includes/shard_keys"
local retentionMs = tonumber(ARGV[5])
--- @include "includes/finish"

local client, id = ARGV[3], ARGV[4]
local raw = redis.call('HGET', KEYS[2], id)
if not raw then
  local done = redis.call('GET', base .. 'done:' .. id)
  if done and cjson.decode(done).c == client then return { 'not_cancellable', done } end
  return { 'not_found', false }
end
local record = cjson.decode(raw)
if record.c ~= client then return { 'not_found', false } end
if isLeased(record) or record.a > 0 then return { 'not_cancellable', raw } end

local queue = base .. 'q:' .. client
redis.call('LREM', queue, 1, id)
finish(id, record, 'cancelled', nil, nil, nowMs(), tonumber(ARGV[6]))
flushArchive()
if redis.call('LLEN', queue) == 0 then
  -- The cancelled request was the client's only one: take the client out of the ring.
  redis.call('LREM', KEYS[1], 1, client)
  advanceClient(client)
end
return { 'cancelled', redis.call('GET', base .. 'done:' .. id) }
