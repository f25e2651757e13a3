--[[ list_client_requests: a page of one client's requests as Redis holds them, newest first, in
one atomic look. Read-only.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
ARGV[4] before  only ids that sort below this one ('' = from the newest)
ARGV[5] limit   most records returned from each of the two sources below
ARGV[6] status  '' for any, or one of queued | running | succeeded | failed | cancelled
Returns {live, finished}, two lists of {id, status, record JSON, position}, largest id first:
  live      its unfinished requests (its head, then its backlog q:<client>); position
            = requests of the client ahead of it (0 for the head)
  finished  its finished requests still in retention (fin:<client>, records from res:<client>),
            position -1; a dead letter that was requeued is live again and left out here
Each list holds the `limit` largest ids below `before` that have `status`. ids are uuidv7, so
this is newest first by enqueue time. Cost: one pass over q:<client> and fin:<client> (bounded by
MAX_QUEUE_DEPTH and RESULT_RETENTION_COUNT): a dead letter requeued by an administrator sits at
its queue's tail with an old id, so neither list is strictly sorted and no walk can stop early;
records are read only for ids that would make the page. ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client, before, limit, wanted = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]

-- Walks `ids` from the last to the first and keeps the `limit` largest ids below `before` for
-- which accept(index, id) gives a value, largest first. accept is asked only about ids that would
-- enter the kept list: on a list in ascending order that is about `limit` of them.
local function top(ids, accept)
  local kept = {}
  for index = #ids, 1, -1 do
    local id = ids[index]
    if (before == '' or id < before) and (#kept < limit or id > kept[#kept].id) then
      local value = accept(index, id)
      if value then
        local at = #kept + 1
        while at > 1 and kept[at - 1].id < id do at = at - 1 end
        table.insert(kept, at, { id = id, value = value })
        if #kept > limit then kept[#kept] = nil end
      end
    end
  end
  local values = {}
  for i, entry in ipairs(kept) do values[i] = entry.value end
  return values
end

local headRaw = redis.call('HGET', KEYS[8], client)
local headId, headRunning = nil, false
if headRaw then
  local leased, _, _, _, id = recordHead(headRaw)
  headId, headRunning = id, leased == '1'
end

-- The ids of the client's unfinished requests, head first, and the backlog's records by id.
local liveIds, backlogRecords = { headId }, {}
local backlog = backlogEntries(client, 0, -1)
for n = 1, #backlog, 2 do
  liveIds[#liveIds + 1] = backlog[n]
  backlogRecords[backlog[n]] = backlog[n + 1]
end

local function liveRequests()
  return top(liveIds, function(index, id)
    local isHead = index == 1 and headId ~= nil
    local status = (isHead and headRunning) and 'running' or 'queued'
    if wanted ~= '' and wanted ~= status then return nil end
    local raw = isHead and headRaw or backlogRecords[id]
    if not raw then return nil end
    return { id, status, raw, index - 1 }
  end)
end

local function finishedRequests()
  local seen = {}
  return top(redis.call('LRANGE', base .. 'fin:' .. client, 0, -1), function(_, id)
    -- An id listed twice finished twice (a retried dead letter): the latest entry speaks for it.
    if seen[id] then return nil end
    seen[id] = true
    if id == headId or backlogRecords[id] then return nil end
    local raw = finalRecord(client, id)
    if not raw then return nil end -- out of retention: the archive has it
    local status = cjson.decode(raw).st
    if wanted ~= '' and wanted ~= status then return nil end
    return { id, status, raw, -1 }
  end)
end

local wantsLive = wanted == '' or wanted == 'queued' or wanted == 'running'
local wantsFinished = wanted ~= 'queued' and wanted ~= 'running'
return { wantsLive and liveRequests() or {}, wantsFinished and finishedRequests() or {} }
