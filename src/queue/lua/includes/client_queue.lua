--- @include "includes/record"
-- A client's queue: its head record in `heads` (KEYS[8]) and its backlog, q:<client>, a list that
-- holds two elements per request: its id, then its backlog record (see record.lua).
-- Records live in the list rather than in a hash keyed by id because a list entry costs a few
-- bytes where a hash field costs about a hundred: a deep queue's request takes about 100 bytes
-- instead of 210 (measured, bench/README.md). The id stays an element of its own so that LPOS
-- finds a request by id in C. See includes/shard_keys.lua.

local function backlogKey(client)
  return base .. 'q:' .. client
end

-- The shard's count of backlog requests, kept in `stats` (field backlog) so that queue-wide gauges
-- read it with one HGET instead of a walk over every client's backlog. A call adds up its changes
-- and writes them once: every script that adds or takes backlog requests ends with
-- flushBacklogCount() (one HINCRBY per call rather than two per request, ~7% of Redis's time per
-- request at 1,000 clients).
local backlogCountChange = 0
local function countBacklog(change)
  backlogCountChange = backlogCountChange + change
end

local function flushBacklogCount()
  if backlogCountChange ~= 0 then redis.call('HINCRBY', KEYS[6], 'backlog', backlogCountChange) end
  backlogCountChange = 0
end

-- How many requests wait in the client's backlog.
local function backlogLength(client)
  return redis.call('LLEN', backlogKey(client)) / 2
end

-- The index (from 0) of request `id` in the client's backlog, or nil when it is not there.
local function backlogIndex(client, id)
  local at = redis.call('LPOS', backlogKey(client), id)
  if not at or at % 2 == 1 then return nil end
  return at / 2
end

-- The backlog's requests `from` to `to` (indexes from 0; -1 for the last) as {id, record, ...}.
local function backlogEntries(client, from, to)
  local last = to < 0 and -1 or 2 * to + 1
  return redis.call('LRANGE', backlogKey(client), 2 * from, last)
end

local function backlogRecordAt(client, index)
  return redis.call('LINDEX', backlogKey(client), 2 * index + 1)
end

local function replaceBacklogRecord(client, index, raw)
  redis.call('LSET', backlogKey(client), 2 * index + 1, raw)
end

-- Removes the request at `index` from the client's backlog: both its elements are marked with a
-- value no element otherwise has (the empty string), then the first two such are removed.
local function removeBacklogAt(client, index)
  local key = backlogKey(client)
  redis.call('LSET', key, 2 * index, '')
  redis.call('LSET', key, 2 * index + 1, '')
  redis.call('LREM', key, 2, '')
  countBacklog(-1)
end

-- Clients running a run of their requests (see includes/claim_heads.lua): client -> id of the
-- run's last request.
local RUNS = base .. 'runs'

-- Clients in the middle of a turn of several requests (see complete.lua, Turns): client -> requests
-- it went on to start in a row so far.
local TURNS = base .. 'turns'

-- Where the client's live run ends: the backlog index of its last request, or nil when the
-- client holds no run (its requests in the backlog up to that index are handed out).
local function runEndIndex(client)
  local last = redis.call('HGET', RUNS, client)
  if not last then return nil end
  return backlogIndex(client, last)
end

-- The client's unfinished requests: its head, if any, and its backlog.
local function pendingCount(client)
  return redis.call('HEXISTS', KEYS[8], client) + backlogLength(client)
end

-- Appends a never-started request to the client's queue, given its claim counter and the rest of
-- its record (encodeRest). Returns how many of the client's requests are ahead of it: 0 means it
-- became the head, and the caller makes the client ready.
local function appendRequest(client, id, claims, rest)
  local claimsText = decimal(claims)
  if redis.call('HSETNX', KEYS[8], client, withHead('0', claimsText, '0', '0', id, rest)) == 1 then return 0 end
  countBacklog(1)
  return redis.call('RPUSH', backlogKey(client), id, backlogRecord(claimsText, rest)) / 2
end

-- Takes the next request off the client's backlog and returns its record in the head layout, not
-- yet stored, or nil when the backlog is empty; then its id, claim counter and rest of record
-- (see headFromBacklog).
local function takeNextHead(client)
  local taken = redis.call('LPOP', backlogKey(client), 2)
  if not taken then return nil end
  countBacklog(-1)
  local id = taken[1]
  local head, claims, rest = headFromBacklog(taken[2], id)
  return head, id, claims, rest
end

-- Stores `head` (from takeNextHead) as the client's head, or, when it is nil, removes the head
-- field. Returns whether the client still has a head.
local function storeHead(client, head)
  if not head then
    redis.call('HDEL', KEYS[8], client)
    return false
  end
  redis.call('HSET', KEYS[8], client, head)
  return true
end

-- After the head ended: the next request of the backlog becomes the head. Returns false when the
-- client has nothing left (its head field is gone).
local function promoteNext(client)
  return storeHead(client, takeNextHead(client))
end

-- Where a request of the client stands: its stored record (a head record, or for position > 0 a
-- backlog record: no id, attempts 0) and how many of the client's requests are ahead of it (0 for
-- the head), or nil when it is not among the client's unfinished requests.
local function findUnfinished(client, id)
  local head = redis.call('HGET', KEYS[8], client)
  if head then
    local _, _, _, _, headId = recordHead(head)
    if headId == id then return head, 0 end
  end
  local index = backlogIndex(client, id)
  if not index then return nil end -- not queued, or another client's request
  return backlogRecordAt(client, index), index + 1
end
