--- @include "includes/client_queue"
-- Final records waiting for the archive stream. A script appends them here and writes them with
-- flushArchive() before it returns: one stream entry carries up to ARCHIVE_ENTRY_RECORDS records
-- ('r' fields), which costs Redis (and the archiver's reads, acks and deletes) far less than one
-- entry per request.
local ARCHIVE_ENTRY_RECORDS = 32
local archiveBatch = {}

local function flushArchive()
  local fields = {}
  for _, final in ipairs(archiveBatch) do
    fields[#fields + 1] = 'r'
    fields[#fields + 1] = final
    if #fields == 2 * ARCHIVE_ENTRY_RECORDS then
      redis.call('XADD', KEYS[5], '*', unpack(fields))
      fields = {}
    end
  end
  if #fields > 0 then redis.call('XADD', KEYS[5], '*', unpack(fields)) end
  archiveBatch = {}
end

-- Keeps a final record (JSON text) readable and queues it for the archive. The client's latest
-- `keep` final records stay readable in res:<client> (id -> JSON), listed in finish order by
-- fin:<client>, which is also the client's outbox, read through a cursor; both expire together
-- once the queue has drained (clientDrained). One hash per client rather than a key per record:
-- a key with its own expiry per request grew the keyspace and the expiry table that every key
-- lookup of every script searches, and cost Redis 15-20% more CPU per request (bench/README.md).
-- The caller has already taken the request out of the client's queue.
local function storeFinal(id, client, status, final, attempt, now, keep)
  local results = base .. 'res:' .. client
  redis.call('HSET', results, id, final)
  local finished = base .. 'fin:' .. client
  local count = redis.call('RPUSH', finished, id)
  if count > keep then
    for _, old in ipairs(redis.call('LPOP', finished, count - keep)) do
      if redis.call('HDEL', results, old) == 0 then redis.call('DEL', base .. 'done:' .. old) end
    end
  end
  archiveBatch[#archiveBatch + 1] = final
  if status ~= 'succeeded' then redis.call('HINCRBY', KEYS[6], status, 1) end
  redis.call('HINCRBY', base .. 'client:' .. client, status, '1')
  emitEvent(client, id, status, attempt, now)
end

-- Moves a request of `client` to its final state from its decoded record (see storeFinal).
local function finish(client, record, status, result, err, now, keep)
  local id = record.i
  record.i = nil
  record.id = id
  record.c = client
  record.st = status
  record.f = now
  record.r = result
  record.er = err
  record.w = nil
  record.l = nil
  record.a = record.a or 0 -- a backlog record (cancelled before it became the head) keeps none
  if record.s == 0 then record.s = nil end -- never started (cancelled)
  storeFinal(id, client, status, cjson.encode(record), record.a, now, keep)
end

-- A drained client keeps nothing but expiring retention: its finished list and counters start
-- their countdown, and a logged-out client's idempotency keys go at once.
local function clientDrained(client)
  redis.call('HDEL', TURNS, client)
  local meta = base .. 'client:' .. client
  if redis.call('HGET', meta, 'gone') == '1' then
    redis.call('HDEL', meta, 'gone')
    redis.call('DEL', base .. 'idem:' .. client)
  end
  startRetentionCountdown(client, retentionMs)
end

-- After a client's head ended, given its next request taken off the backlog (takeNextHead, nil
-- when none): that request becomes the head and the client goes back to the tail of the ring, or
-- the client is drained.
local function advanceClientTo(client, head)
  if storeHead(client, head) then
    pushReady(client)
  else
    clientDrained(client)
  end
end

local function advanceClient(client)
  advanceClientTo(client, takeNextHead(client))
end

-- Appends one attempt to the record's history (only failed attempts are kept).
local function recordAttemptFailure(record, err, now)
  local history = record.h or {}
  history[#history + 1] = { a = record.a, s = record.s, f = now, er = err }
  record.h = history
end
