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
    -- A head already running means the ring held a stale entry: never start a second request.
    if id and redis.call('HEXISTS', KEYS[3], id) == 0 then
      local raw = redis.call('HGET', KEYS[2], id)
      if raw then
        local record = cjson.decode(raw)
        record.a = record.a + 1
        record.s = now
        record.w = nil
        redis.call('HSET', KEYS[2], id, cjson.encode(record))
        local fence = redis.call('INCR', KEYS[6])
        redis.call('HSET', KEYS[3], id, fence .. ':' .. client)
        redis.call('ZADD', KEYS[4], now + leaseMs, id)
        out[#out + 1] = { client, id, fence, record.t, record.p, record.a, record.m, record.o, record.e }
      else
        -- An id without a record cannot run; drop it so the client's queue moves on.
        redis.call('LPOP', queue)
        if redis.call('LLEN', queue) > 0 then redis.call('RPUSH', KEYS[1], client) end
      end
    end
  end
end
