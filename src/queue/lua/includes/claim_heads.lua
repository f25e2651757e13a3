--- @include "includes/client_queue"
-- The terms of the claims one call makes: now (number and text, see clockNow), the deadline of
-- their leases (text, for ZADD) and the longest run (runMax, see attachRun; 1 for no runs).
local function claimTerms(leaseMs, runMax)
  local now, nowText = clockNow()
  return { now = now, nowText = nowText, leaseUntil = string.format('%d', now + leaseMs), runMax = runMax or 1 }
end

-- Runs: when nobody else waits in this shard's ready ring, a claimed head brings the next requests
-- of its client's backlog along, up to runMax requests in all (records as stored, appended to the
-- claim as {id, record, ...}). The worker runs them one after another, in order, without waiting
-- for Redis between them: each completion names the next member, which complete.lua then leases
-- under the fence the worker already holds (the record's k + 1). The backlog itself is left as it
-- is, so a run member reads `queued` until it starts; runs (HASH client -> id of the run's last
-- member) tells cancel.lua that those requests are handed out, and recover_expired_leases.lua which
-- ones a crashed worker may have started. With other clients waiting there are no runs, so
-- round-robin turns keep their size.

local function attachRun(client, runMax, entry)
  if runMax <= 1 or ringLength() > 0 then return end
  local entries = backlogEntries(client, 0, runMax - 2)
  local members = {}
  for n = 1, #entries, 2 do
    -- A request that may run only once stays out of runs: should the worker die, every request it
    -- held counts an attempt (see recover_expired_leases.lua), and this one would fail unrun.
    if string.find(entries[n + 1], '"m":1,', 1, true) then break end
    members[n], members[n + 1] = entries[n], entries[n + 1]
  end
  if #members == 0 then return end
  redis.call('HSET', RUNS, client, members[#members - 1])
  entry[6] = members
end

-- Starts attempt `attempt` of the client's head request `id` under a new lease (`times`:
-- claimTerms) whose fence is `fence`: writes the claimed record and the lease, and appends the
-- claim to `out`, with a run when the terms allow one. `rest` is the record after its head (see
-- record.lua).
local function leaseHead(client, id, fence, attempt, rest, times, out)
  local claimed = withHead('1', decimal(fence), decimal(attempt), times.nowText, id, rest)
  redis.call('HSET', KEYS[8], client, claimed)
  redis.call('ZADD', KEYS[3], times.leaseUntil, client)
  emitEvent(client, id, 'running', attempt, times.now)
  local entry = { client, id, fence, attempt, claimed }
  out[#out + 1] = entry
  attachRun(client, times.runMax, entry)
end

-- Starts the client's head request, given its stored record `raw` (see leaseHead). Returns false,
-- changing nothing, when that head is already leased: a request never starts twice.
local function startHead(client, raw, times, out)
  local leased, claims, attempts, _, id, restAt = recordHead(raw)
  if leased ~= '0' then return false end
  leaseHead(client, id, tonumber(claims) + 1, tonumber(attempts) + 1, string.sub(raw, restAt), times, out)
  return true
end

-- Claims up to `count` clients' head requests from the ready ring, appending each claimed request
-- to `out` as {client, id, fence, attempt, record JSON} (the worker reads type, payload, limits and
-- enqueuedAt from the JSON, which costs it less than it costs Redis to pick them out).
-- A client leaves the ring when claimed and re-enters at its tail only when that request ends:
-- this is what keeps one request per client in flight and serves clients round-robin.
local function claimHeads(count, times, out)
  for _ = 1, count do
    local client = popReady()
    if not client then return end
    -- No head (a stale ring entry) starts nothing.
    local raw = redis.call('HGET', KEYS[8], client)
    if raw then startHead(client, raw, times, out) end
  end
end

-- Whether a stored head record is the request `id` leased under the given fence (the latest
-- claim's token).
local function holdsLease(raw, id, fence)
  local leased, claims, _, _, headId = recordHead(raw)
  return leased == '1' and claims == fence and headId == id
end

-- The decoded head record of `client` when it is the request `id` held under the given fence, or
-- nil when that claim no longer holds.
local function leasedHead(client, id, fence)
  local raw = redis.call('HGET', KEYS[8], client)
  if not raw or not holdsLease(raw, id, fence) then return nil end
  return cjson.decode(raw)
end
