-- Claims up to `count` clients' head requests from the ready ring, appending each claimed request
-- to `out` as {client, id, fence, type, payload, attempt, maxAttempts, timeoutMs, enqueuedAt}.
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
      local record = cjson.decode(raw)
      -- A head that is already leased means a stale ring entry: never start a request twice.
      if not record.l then
        record.a = record.a + 1
        record.k = (record.k or 0) + 1
        record.s = now
        record.l = 1
        record.w = nil
        redis.call('HSET', KEYS[2], id, cjson.encode(record))
        redis.call('ZADD', KEYS[3], now + leaseMs, id)
        emitEvent(client, id, 'running', record.a, now)
        out[#out + 1] = { client, id, record.k, record.t, record.p, record.a, record.m, record.o, record.e }
      end
    elseif id then
      -- An id without a record cannot run; drop it so the client's queue moves on.
      redis.call('LPOP', queue)
      if redis.call('LLEN', queue) > 0 then pushReady(client) end
    end
  end
end

-- The record of a request held under the given fence, or nil when that claim no longer holds.
local function leasedRecord(id, fence)
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return nil end
  local record = cjson.decode(raw)
  if record.l and tostring(record.k) == fence then return record end
  return nil
end
