--[[ complete: ends attempts (successes and failures) of one shard and claims the next heads in the
same call, so a worker's freed slots are refilled without another round trip.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] retentionMs  how long final records stay readable in Redis
ARGV[4] keep         most finished records kept per client
ARGV[5] claimCount   how many heads to claim for the freed slots (0 to claim none)
ARGV[6] leaseMs      lease of those new claims
ARGV[7] runMax       most requests of one client per new claim (runs, see includes/claim_heads.lua)
ARGV[8] turnLength   most requests of one client started in a row while other clients wait (see
                     'Turns' below; 1: each client's turn is one request)
ARGV[9..]            groups of 7, one per attempt ended:
                       id, client, fence (the token of the claim being ended), outcome ('ok' | 'error'),
                       value (result JSON text when ok; error JSON {message, code} when error),
                       retryDelayMs (backoff chosen by the worker, jitter included; used only
                       while attempts remain; negative = the error is permanent, no retry),
                       next ('' outside a run; inside one, the id of the run's next request, which
                       the worker has gone on to run and which is leased now under the fence it
                       holds, or '.' when the run ends here)
Returns {results, remaining, claimed}: results[i] is 'succeeded', 'failed' (dead-lettered),
'retrying' or 'stale' (that fence no longer holds: another claim owns the request and nothing was
changed); remaining and claimed as in claim.lua.
A client whose request ended goes to the tail of the ready ring; when the ring is empty and a slot
is still to fill, its next request is claimed in this call instead (nobody's turn changes).
Turns: while other clients wait, a client whose request ended still starts its next one in this
call, up to turnLength requests in a row (counted in turns:<client>, a field of the shard's
`turns` hash), and only then goes to the ring's tail. That is round-robin with a turn of a few
requests instead of one: each waiting client still comes up within one pass of the ring, which is
at most turnLength times longer, and a request taken over in the same call skips the ring's push
and pop, the lease's removal and re-adding, and a second write of the head (Redis CPU per request
at 1,000 clients x 100: bench/README.md). Nothing starts before Redis has the previous request's
end, so order under crashes is as strict as with turns of one (unlike runs).
Order: a retried request stays at the head of its client's queue and the client stays out of the
ring until the retry is due, so nothing of that client overtakes it. ]]
--- @include "includes/shard_keys"
local retentionMs = tonumber(ARGV[3])
--- @include "includes/claim_heads"
--- @include "includes/finish"

local keep = tonumber(ARGV[4])
local claimBudget = tonumber(ARGV[5])
local times = claimTerms(tonumber(ARGV[6]), tonumber(ARGV[7]))
local turnLength = tonumber(ARGV[8])
local now, nowText = times.now, times.nowText
local claimed = {}
-- A run's next request is leased without a run of its own and is not a new claim.
local continuing = { now = now, nowText = nowText, leaseUntil = times.leaseUntil, runMax = 1 }
local continued = {}

-- A request fresh from the backlog (takeNextHead gave its parts) starts without its head being
-- parsed again.
local function startNext(client, head, id, claims, rest, terms, out)
  if not claims then return startHead(client, head, terms, out) end
  leaseHead(client, id, tonumber(claims) + 1, 1, rest, terms, out)
  return true
end

-- Whether the client whose request just ended may start its next one now (see Turns in the header).
-- With the ring empty it always may, and that is not counted as part of a turn.
local function mayGoOn(client)
  if ringLength() == 0 then return true end
  if turnLength <= 1 then return false end
  if redis.call('HINCRBY', TURNS, client, 1) < turnLength then return true end
  redis.call('HDEL', TURNS, client)
  return false
end

-- After a client's head ended for good (succeeded or dead-lettered): when nobody waits in the
-- ready ring and this call still has a slot to fill, the client's next request starts at once.
-- The ring would have handed this client straight back, so nobody's turn changes, and it saves
-- the ring's push and pop, the lease's removal and a second write of the new head.
-- Inside a run (`next`, see the header), the run's next request is leased at once: the worker runs
-- it already. A run ending here lets the client's next request start or queue as usual.
local function moveOn(client, next)
  local head, id, claims, rest = takeNextHead(client)
  if next ~= '' then
    if head and id == next and startNext(client, head, id, claims, rest, continuing, continued) then return end
    redis.call('HDEL', RUNS, client)
  end
  if head and claimBudget > 0 and mayGoOn(client) and startNext(client, head, id, claims, rest, times, claimed) then
    claimBudget = claimBudget - 1
    return
  end
  redis.call('ZREM', KEYS[3], client)
  advanceClientTo(client, head)
end

-- A success, the hot path: the final record is spliced from the stored one without decoding it.
local function succeed(id, client, raw, claims, attempts, startedAt, restAt, value, next)
  local final = '{"id":"' .. id .. '","c":' .. cjson.encode(client) .. ',"st":"succeeded","f":' .. nowText ..
    ',"r":' .. cjson.encode(value) .. ',"k":' .. claims .. ',"a":' .. attempts .. ',"s":' .. startedAt .. ',' ..
    string.sub(raw, restAt)
  storeFinal(id, client, 'succeeded', final, attempts, now, keep)
  moveOn(client, next)
  return 'succeeded'
end

-- A failure ends a run: the requests after it stay queued behind it.
local function fail(client, record, value, retryDelayMs, next)
  if next ~= '' then redis.call('HDEL', RUNS, client) end
  record.l = 0
  local err = cjson.decode(value)
  recordAttemptFailure(record, err, now)
  if retryDelayMs >= 0 and record.a < record.m then
    record.w = now + retryDelayMs
    redis.call('ZREM', KEYS[3], client)
    redis.call('HSET', KEYS[8], client, encodeRecord(record))
    redis.call('ZADD', KEYS[4], record.w, client)
    emitEvent(client, record.i, 'queued', record.a, now)
    return 'retrying'
  end
  finish(client, record, 'failed', nil, err, now, keep)
  moveOn(client, '')
  return 'failed'
end

local function completeOne(id, client, fence, outcome, value, retryDelayMs, next)
  local raw = redis.call('HGET', KEYS[8], client)
  if not raw then return 'stale' end
  local leased, claims, attempts, startedAt, headId, restAt = recordHead(raw)
  if leased ~= '1' or claims ~= fence or headId ~= id then return 'stale' end
  if outcome == 'ok' then return succeed(id, client, raw, claims, attempts, startedAt, restAt, value, next) end
  return fail(client, cjson.decode(raw), value, tonumber(retryDelayMs), next)
end

local results = {}
for i = 9, #ARGV, 7 do
  results[#results + 1] = completeOne(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6])
end
flushArchive()
claimHeads(claimBudget, times, claimed)
flushBacklogCount()
return { results, readyLengthAndWake(), claimed }
