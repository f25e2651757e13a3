--[[ enqueue: appends requests to their clients' queues, all or none.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] maxDepth    most requests one client may have pending (queued or running)
ARGV[4] idemTtlMs   how long an idempotency key is remembered
ARGV[5] caller      the client making an API call ('' for none: an internal producer), checked first:
ARGV[6] session     its session family: refused with 'REVOKED' when revoked:<session> exists
ARGV[7] perSecond   its calls allowed per second (rl:<caller>, a one-second window; 0 = no limit):
                    refused with 'RATE_LIMITED <ms until the window ends>'; a refused call counts
ARGV[8] deadline    Redis time (ms) after which the call is refused with 'LATE_CALL', writing
                    nothing (see 'A call sent again' below)
ARGV[9..]           groups of 7: client, id, type, payload (JSON text), maxAttempts, timeoutMs,
                    idempotencyKey ('' for none); every client of the call is in this shard.
Returns, per request in order: {id, status, position}; status is 'queued' for a new request, or
the current status of the request an idempotency key already named (or of the same id, when a
call is sent again after a lost reply) ('archived' when that request
has left Redis retention), with position -1 when it is not queued.
Error 'QUEUE_FULL <client>' when a client would exceed maxDepth: then no request is written.
A call sent again: ioredis sends a command again after a reconnect when the reply to the first
send was lost. Ids are new UUIDs made by the engine, so a call whose last new id Redis has seen
is such a repeat, and is answered like one instead of queuing its requests twice. Each call that
queued requests leaves its last new id in calls:<n>, a hash per CALL_WINDOW_MS window kept two
windows long; the engine sets the deadline less than a window after it sends the call, so any
send that is accepted finds its first send's mark in this window's hash or the one before. This
costs a field per call for a minute, where looking the id up in its client's backlog would cost a
walk over the whole backlog on every call.
The caller's checks live here, not in separate commands, so that an API call costs one round trip
(measured: the two extra round trips cost a fifth of the API's single-request throughput).
Invariant kept: a client is in the ready ring iff it has a head that is neither running nor
waiting for a retry; so only a client without a head joins the ring. ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local maxDepth = tonumber(ARGV[3])
local idemTtlMs = tonumber(ARGV[4])
local FIRST = 9
local CALL_WINDOW_MS = 30000
local GROUP = 7

-- The API caller's session and rate limit (see the header).
local function refusedCaller(caller, session, perSecond)
  if session ~= '' and redis.call('EXISTS', base .. 'revoked:' .. session) == 1 then
    return redis.error_reply('REVOKED')
  end
  if perSecond > 0 then
    local window = base .. 'rl:' .. caller
    local calls = redis.call('INCR', window)
    if calls == 1 then redis.call('PEXPIRE', window, 1000) end
    if calls > perSecond then return redis.error_reply('RATE_LIMITED ' .. redis.call('PTTL', window)) end
  end
  return nil
end

local function existingStatus(client, id)
  local raw, position = findUnfinished(client, id)
  if raw then
    if position == 0 and isLeased(cjson.decode(raw)) then return 'running', -1 end
    return 'queued', position
  end
  local done = finalRecord(client, id)
  if done then return cjson.decode(done).st, -1 end
  return 'archived', -1
end

local now, nowText = clockNow()
if now > tonumber(ARGV[8]) then return redis.error_reply('LATE_CALL') end
local window = math.floor(now / CALL_WINDOW_MS)
local callsKey = base .. 'calls:' .. window

if ARGV[5] ~= '' then
  local refusal = refusedCaller(ARGV[5], ARGV[6], tonumber(ARGV[7]))
  if refusal then return refusal end
end

-- Whether a call whose last new request is `id` was applied already (see the header).
local function appliedBefore(id)
  return redis.call('HEXISTS', callsKey, id) == 1 or redis.call('HEXISTS', base .. 'calls:' .. (window - 1), id) == 1
end

-- Pass 1: resolve idempotency keys and check depth, writing nothing.
local known = {}
local fresh = {}
local seenKeys = {}
for i = FIRST, #ARGV, GROUP do
  local client, id, key = ARGV[i], ARGV[i + 1], ARGV[i + 6]
  local original = nil
  if key ~= '' then
    original = seenKeys[client .. '\0' .. key] or redis.call('HGET', base .. 'idem:' .. client, key)
  end
  if original then
    known[i] = original
  else
    if key ~= '' then seenKeys[client .. '\0' .. key] = id end
    fresh[#fresh + 1] = i
  end
end
-- A call is all or none, so its last new request tells for all of them.
local last = fresh[#fresh]
if last and appliedBefore(ARGV[last + 1]) then
  for _, i in ipairs(fresh) do known[i] = ARGV[i + 1] end
  fresh = {}
end
local added = {}
for _, i in ipairs(fresh) do added[ARGV[i]] = (added[ARGV[i]] or 0) + 1 end
for client, count in pairs(added) do
  if pendingCount(client) + count > maxDepth then
    return redis.error_reply('QUEUE_FULL ' .. client)
  end
end

-- Pass 2: write.
local out = {}
local touched = {}
for i = FIRST, #ARGV, GROUP do
  local client, id, key = ARGV[i], ARGV[i + 1], ARGV[i + 6]
  if known[i] then
    local status, position = existingStatus(client, known[i])
    out[#out + 1] = { known[i], status, position }
  else
    local position = appendRequest(client, id, 0, newRequestRest(ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], nowText))
    if not touched[client] then
      touched[client] = true
      local meta = base .. 'client:' .. client
      redis.call('HDEL', meta, 'gone')
      if position == 0 then
        -- A new busy period: retention countdowns wait until the queue drains again.
        stopRetentionCountdown(client)
      end
    end
    if position == 0 then pushReady(client) end
    if key ~= '' then
      redis.call('HSET', base .. 'idem:' .. client, key, id)
      redis.call('PEXPIRE', base .. 'idem:' .. client, idemTtlMs)
    end
    emitEvent(client, id, 'queued', 0, now)
    out[#out + 1] = { id, 'queued', position }
  end
end
if #fresh > 0 then
  redis.call('HSET', callsKey, ARGV[fresh[#fresh] + 1], '')
  redis.call('PEXPIRE', callsKey, 2 * CALL_WINDOW_MS)
end
flushBacklogCount()
readyLengthAndWake()
return out
