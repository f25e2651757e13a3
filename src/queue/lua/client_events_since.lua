--[[ client_events_since: the state changes of one client's requests after a moment, rebuilt from
the records Redis holds, so that an event stream can resume after a reconnect (Last-Event-ID)
without any event having been stored.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
ARGV[4] since   time (ms, Redis clock) of the last event the client saw
ARGV[5] limit   most requests looked at in each of the queue and the finished list
Returns a flat list of groups {id, status, attempt, at}, unordered: for each request touched after
`since`, its enqueue (queued), its latest start (running) and its end (final status), whichever
happened after `since`. Intermediate attempts of a retried request are not rebuilt: the stream
resumes with each request's latest state, which is what a client needs to catch up. ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client, since, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
local function add(id, status, attempt, at)
  if at and at > since then
    out[#out + 1] = id
    out[#out + 1] = status
    out[#out + 1] = attempt
    out[#out + 1] = at
  end
end

-- Finished requests, newest first, until one ended before `since`.
local finished = redis.call('LRANGE', base .. 'fin:' .. client, -limit, -1)
for i = #finished, 1, -1 do
  local done = finalRecord(client, finished[i])
  if done then
    local record = cjson.decode(done)
    if record.f <= since then break end
    add(finished[i], 'queued', 0, record.e)
    if record.s then add(finished[i], 'running', record.a, record.s) end
    add(finished[i], record.st, record.a, record.f)
  end
end

-- Queued and running requests: the head (it may have started after `since`), then the newest
-- enqueued ones, newest first, until one was enqueued before `since`.
local function addUnfinished(id, raw)
  local record = cjson.decode(raw)
  add(id, 'queued', 0, record.e)
  if isLeased(record) then add(id, 'running', record.a, record.s) end
  return record
end
local head = redis.call('HGET', KEYS[8], client)
if head then addUnfinished(select(5, recordHead(head)), head) end
local newest = redis.call('LRANGE', backlogKey(client), -2 * limit, -1)
for n = #newest - 1, 1, -2 do
  local record = addUnfinished(newest[n], newest[n + 1])
  if record.e <= since then break end
end
return out
