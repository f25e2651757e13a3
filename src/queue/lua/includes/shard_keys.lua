-- Every engine script receives the same eight shard keys, all in one hash slot ({s<n>}):
--   KEYS[1] ready    LIST   clients whose head request can start now (the round-robin ring)
--   KEYS[2] jobs     HASH   unused since backlog records moved into q:<client>; read only by
--                           upgrade_client_layout.lua, for queues of the earlier layouts
--   KEYS[3] leases   ZSET   clients whose head is running, scored by lease deadline (Redis clock, ms)
--   KEYS[4] delayed  ZSET   client ids scored by the time their head's retry is due
--   KEYS[5] archive  STREAM final records waiting to be written to PostgreSQL
--   KEYS[6] stats    HASH   shard totals of failed and cancelled requests, and of backlog requests
--   KEYS[7] watch    ZSET   client ids whose events some API process wants, scored by until when
--   KEYS[8] heads    HASH   client id -> JSON record of its head request (running, waiting for a
--                           retry or next to start); a field exists iff the client has unfinished work
-- and ARGV[1] = the shard's key base "<prefix>:{s<n>}:", from which per-client keys are derived
-- (q:<client>, fin:<client>, res:<client>, idem:<client>, client:<client>, and calls:<n>, see
-- enqueue.lua). Those keys carry the same
-- hash tag, so they live in the slot of KEYS[1..8] and Redis Cluster accepts the access; they
-- cannot be listed in KEYS because which client comes next is only known inside the script.
-- ARGV[2] = the wake channel, published to when the ready ring goes from empty to non-empty.
--
-- A client's queue is its head (a field of `heads`) followed by its backlog (q:<client>, each
-- request's id followed by its record, see includes/client_queue.lua). A client with one request has no key of its own: most clients of a busy
-- service have one or two requests queued, and a key costs Redis about 200 bytes.
--
-- Record fields (short, because every queued byte counts): i id, t type, p payload JSON text,
-- m maxAttempts, o timeoutMs, e enqueuedAt, a attempts started, k claims made (the fencing token
-- of the latest claim), l = 1 while leased (running, else 0), s startedAt of the latest attempt
-- (0 before the first); l, k, a, s, i always lead a head record's JSON in that order, while a
-- backlog record (q:<client>) keeps only k in front and has no i, a, l, s yet (includes/record.lua);
-- w retry due time, h failed attempts {a, s, f, er}; final records replace i by id and add
-- c client, st status, f finishedAt, r result JSON text, er error {message, code}.
local base = ARGV[1]
local wakeChannel = ARGV[2]

-- A finished request's final record (JSON text), or nil once it has left Redis retention.
-- res:<client> holds them by id; done:<id> is where earlier versions kept each one, read until
-- those expire by themselves.
local function finalRecord(client, id)
  return redis.call('HGET', base .. 'res:' .. client, id) or redis.call('GET', base .. 'done:' .. id) or nil
end

-- A client's counters, finished list and final records outlive its queue: their retention
-- countdown runs while the queue is drained and stops when it has work again.
local function retainedKeys(client)
  return { base .. 'client:' .. client, base .. 'fin:' .. client, base .. 'res:' .. client }
end

local function startRetentionCountdown(client, ms)
  for _, key in ipairs(retainedKeys(client)) do redis.call('PEXPIRE', key, ms) end
end

local function stopRetentionCountdown(client)
  for _, key in ipairs(retainedKeys(client)) do redis.call('PERSIST', key) end
end

-- The Redis clock in ms, as a number and as its decimal text. Hot scripts write times into records
-- as text made from TIME's own digits: Lua turns a number into text with sprintf("%.14g"), and
-- those conversions were a tenth of the instructions Redis ran per request (callgrind, see
-- bench/README.md). The same holds for numbers given to redis.call: hot paths pass text.
local function clockNow()
  local t = redis.call('TIME')
  local micros = t[2]
  local text = t[1] .. string.sub(string.rep('0', 6 - #micros) .. micros, 1, 3)
  return tonumber(text), text
end

local function nowMs()
  return (clockNow())
end

-- The decimal text of small whole numbers (fences, attempts), each converted once per call.
local decimalTexts = {}
local function decimal(n)
  local text = decimalTexts[n]
  if not text then
    text = tostring(n)
    decimalTexts[n] = text
  end
  return text
end

-- Idle workers block on the wake channel instead of polling; they only need to hear about the
-- ring going from empty to non-empty (a busy worker claims again as soon as a slot frees).
-- The ring's length is read once per call at most and then followed locally: no other command
-- runs while a script does.
local pushedIntoEmptyRing = false
local knownRingLength = nil

local function ringLength()
  if knownRingLength == nil then knownRingLength = redis.call('LLEN', KEYS[1]) end
  return knownRingLength
end

local function pushReady(client, atFront)
  knownRingLength = redis.call(atFront and 'LPUSH' or 'RPUSH', KEYS[1], client)
  if knownRingLength == 1 then pushedIntoEmptyRing = true end
end

-- The next client of the ring, or nil when the ring is empty.
local function popReady()
  local client = redis.call('LPOP', KEYS[1])
  if not client then
    knownRingLength = 0
  elseif knownRingLength then
    knownRingLength = knownRingLength - 1
  end
  return client
end

-- Returns the ring's length, announcing new work when this call filled an empty ring.
local function readyLengthAndWake()
  local remaining = ringLength()
  if pushedIntoEmptyRing and remaining > 0 then redis.call('PUBLISH', wakeChannel, KEYS[1]) end
  return remaining
end

-- State changes of requests, published to KEYS[7] watch's clients only. KEYS[7] `watch` is a ZSET
-- of client ids scored by the time until which some API process wants that client's events (a
-- long poll or an event stream is open). An unwatched client costs one EXISTS per script call:
-- nobody pays for events nobody reads.
-- Message on channel "<key base>events": "<client> <id> <status> <attempt> <time ms>".
local watchedShard = nil
local function emitEvent(client, id, status, attempt, now)
  if watchedShard == nil then watchedShard = redis.call('EXISTS', KEYS[7]) == 1 end
  if not watchedShard then return end
  local watchedUntil = redis.call('ZSCORE', KEYS[7], client)
  if watchedUntil and tonumber(watchedUntil) >= now then
    redis.call('PUBLISH', base .. 'events', client .. ' ' .. id .. ' ' .. status .. ' ' .. attempt .. ' ' .. now)
  end
end
