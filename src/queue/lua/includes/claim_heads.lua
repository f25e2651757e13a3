--- @include "includes/client_queue"
-- The times of the claims one call makes: now (number and text, see clockNow) and the deadline of
-- their leases (text, for ZADD).
local function claimTimes(leaseMs)
  local now, nowText = clockNow()
  return { now = now, nowText = nowText, leaseUntil = string.format('%d', now + leaseMs) }
end

-- Starts attempt `attempt` of the client's head request `id` under a new lease (`times`:
-- claimTimes) whose fence is `fence`: writes the claimed record and the lease, and appends the
-- claim to `out`. `rest` is the record after its head (see record.lua).
local function leaseHead(client, id, fence, attempt, rest, times, out)
  local claimed = withHead('1', decimal(fence), decimal(attempt), times.nowText, id, rest)
  redis.call('HSET', KEYS[8], client, claimed)
  redis.call('ZADD', KEYS[3], times.leaseUntil, client)
  emitEvent(client, id, 'running', attempt, times.now)
  out[#out + 1] = { client, id, fence, attempt, claimed }
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
