--[[ cancel: cancels a request that has not started; it will never run.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client       the caller; another client's request is reported as not found
ARGV[4] id
ARGV[5] retentionMs  as in complete.lua
ARGV[6] keep         as in complete.lua
Returns {outcome, record}: outcome 'cancelled' (record = the final JSON), 'not_cancellable'
(running, handed out to a worker in a run of its client's requests, waiting for a retry after an
attempt, or already finished) or 'not_found'. ]]
--- @include "includes/shard_keys"
local retentionMs = tonumber(ARGV[5])
--- @include "includes/finish"

-- Whether the request at `position` of the client's backlog belongs to a live run: its worker may
-- be running it already.
local function inRun(client, position)
  local lastIndex = runEndIndex(client)
  return lastIndex ~= nil and position <= lastIndex + 1
end

local client, id = ARGV[3], ARGV[4]
local raw, position = findUnfinished(client, id)
if not raw then
  local done = finalRecord(client, id)
  if done and cjson.decode(done).c == client then return { 'not_cancellable', done } end
  return { 'not_found', false }
end
local record = cjson.decode(raw)
if isLeased(record) or (record.a or 0) > 0 or (position > 0 and inRun(client, position)) then
  return { 'not_cancellable', raw }
end
record.i = id -- a backlog record names no id

finish(client, record, 'cancelled', nil, nil, nowMs(), tonumber(ARGV[6]))
flushArchive()
if position == 0 then
  -- The head, waiting in the ring: the next request takes its place there, or the client leaves.
  if not promoteNext(client) then
    redis.call('LREM', KEYS[1], 1, client)
    clientDrained(client)
  end
else
  removeBacklogAt(client, position - 1)
end
flushBacklogCount()
return { 'cancelled', finalRecord(client, id) }
