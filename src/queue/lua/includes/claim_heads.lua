--- @include "includes/record"
-- Claims up to `count` clients' head requests from the ready ring, appending each claimed request
-- to `out` as {client, id, fence, attempt, record JSON} (the worker reads type, payload, limits and
-- enqueuedAt from the JSON, which costs it less than it costs Redis to pick them out).
-- A client leaves the ring when claimed and re-enters at its tail only when that request ends:
-- this is what keeps one request per client in flight and serves clients round-robin.
local function claimHeads(count, leaseMs, now, out)
  for _ = 1, count do
    local client = redis.call('LPOP', KEYS[1])
    if not client then return end
    local queue = base .. 'q:' .. client
    local id = redis.call('LINDEX', queue, 0)
    local raw = id and redis.call('HGET', KEYS[2], id)
    if raw then
      local leased, claims, attempts, _, restAt = recordHead(raw)
      if not leased then
        -- Written by a version before the fixed head: rewrite it in today's layout.
        raw = encodeRecord(cjson.decode(raw))
        leased, claims, attempts, _, restAt = recordHead(raw)
      end
      -- A head that is already leased means a stale ring entry: never start a request twice.
      if leased == '0' then
        local fence = tonumber(claims) + 1
        local attempt = tonumber(attempts) + 1
        local claimed = withHead(1, fence, attempt, now, string.sub(raw, restAt))
        redis.call('HSET', KEYS[2], id, claimed)
        redis.call('ZADD', KEYS[3], now + leaseMs, id)
        emitEvent(client, id, 'running', attempt, now)
        out[#out + 1] = { client, id, fence, attempt, claimed }
      end
    elseif id then
      -- An id without a record cannot run; drop it so the client's queue moves on.
      redis.call('LPOP', queue)
      if redis.call('LLEN', queue) > 0 then pushReady(client) end
    end
  end
end

-- Whether a stored record is leased under the given fence (the latest claim's token).
local function holdsLease(raw, fence)
  local leased, claims = recordHead(raw)
  if leased then return leased == '1' and claims == fence end
  local record = cjson.decode(raw) -- written by a version before the fixed head
  return record.l ~= nil and tostring(record.k) == fence
end

-- The record of a request held under the given fence, or nil when that claim no longer holds.
local function leasedRecord(id, fence)
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw or not holdsLease(raw, fence) then return nil end
  return cjson.decode(raw)
end
