--[[ get_request: reads one request of a client, in whatever state it is, in one atomic look.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client  the caller; another client's request reads as absent
ARGV[4] id
Returns {status, record JSON, position} — status 'queued' | 'running' (the stored record, position
= requests of the client ahead of it) or the final status (its final record, position -1) —
or false when Redis no longer holds the request (it may be in the PostgreSQL archive). ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client, id = ARGV[3], ARGV[4]
local raw, position = findUnfinished(client, id)
if raw then
  if position == 0 and isLeased(cjson.decode(raw)) then return { 'running', raw, 0 } end
  return { 'queued', raw, position }
end
local done = finalRecord(client, id)
if done then
  local record = cjson.decode(done)
  if record.c == client then return { record.st, done, -1 } end
end
return false
