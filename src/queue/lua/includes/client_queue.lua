--- @include "includes/record"
-- A client's queue: its head record in `heads` (KEYS[8]) and its backlog of ids in q:<client>,
-- whose records wait in `jobs` (KEYS[2]). See includes/shard_keys.lua.

-- Clients running a run of their requests (see includes/claim_heads.lua): client -> id of the
-- run's last request.
local RUNS = base .. 'runs'

-- Where the client's live run ends: the index in q:<client> of its last request, or nil when the
-- client holds no run (its requests in the backlog up to that index are handed out).
local function runEndIndex(client)
  local last = redis.call('HGET', RUNS, client)
  if not last then return nil end
  return redis.call('LPOS', base .. 'q:' .. client, last) or nil
end

-- The client's unfinished requests: its head, if any, and its backlog.
local function pendingCount(client)
  return redis.call('HEXISTS', KEYS[8], client) + redis.call('LLEN', base .. 'q:' .. client)
end

-- Appends a never-started request to the client's queue, given its claim counter and the rest of
-- its record (encodeRest). Returns how many of the client's requests are ahead of it: 0 means it
-- became the head, and the caller makes the client ready.
local function appendRequest(client, id, claims, rest)
  local claimsText = decimal(claims)
  if redis.call('HSETNX', KEYS[8], client, withHead('0', claimsText, '0', '0', id, rest)) == 1 then return 0 end
  redis.call('HSET', KEYS[2], id, backlogRecord(claimsText, rest))
  return redis.call('RPUSH', base .. 'q:' .. client, id)
end

-- Takes the next request off the client's backlog and returns its record in the head layout, not
-- yet stored, or nil when the backlog is empty; then its id, claim counter and rest of record
-- (see headFromBacklog).
local function takeNextHead(client)
  local backlog = base .. 'q:' .. client
  while true do
    local id = redis.call('LPOP', backlog)
    if not id then return nil end
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      redis.call('HDEL', KEYS[2], id)
      local head, claims, rest = headFromBacklog(raw, id)
      return head, id, claims, rest
    end
    -- An id without a record cannot run: skip it so the client's queue moves on.
  end
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
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return nil end
  local index = redis.call('LPOS', base .. 'q:' .. client, id)
  if not index then return nil end -- another client's request
  return raw, index + 1
end
