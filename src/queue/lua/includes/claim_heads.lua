--- @include "includes/client_queue"
-- Claims up to `count` clients' head requests from the ready ring, appending each claimed request
-- to `out` as {client, id, fence, attempt, record JSON} (the worker reads type, payload, limits and
-- enqueuedAt from the JSON, which costs it less than it costs Redis to pick them out).
-- A client leaves the ring when claimed and re-enters at its tail only when that request ends:
-- this is what keeps one request per client in flight and serves clients round-robin.
local function claimHeads(count, leaseMs, now, out)
  for _ = 1, count do
    local client = redis.call('LPOP', KEYS[1])
    if not client then return end
    local raw = redis.call('HGET', KEYS[8], client)
    local leased, claims, attempts, _, id, restAt
    if raw then leased, claims, attempts, _, id, restAt = recordHead(raw) end
    -- No head, or a head already leased, means a stale ring entry: never start a request twice.
    if leased == '0' then
      local fence = tonumber(claims) + 1
      local attempt = tonumber(attempts) + 1
      local claimed = withHead(1, fence, attempt, now, id, string.sub(raw, restAt))
      redis.call('HSET', KEYS[8], client, claimed)
      redis.call('ZADD', KEYS[3], now + leaseMs, client)
      emitEvent(client, id, 'running', attempt, now)
      out[#out + 1] = { client, id, fence, attempt, claimed }
    end
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
