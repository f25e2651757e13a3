-- Moves a request to its final state: the record leaves `jobs`, a final copy stays readable
-- (done:<id>, expiring after the retention window, and at most `keep` per client: fin:<client>
-- lists them in finish order and is also the client's outbox, read through a cursor), and the
-- record is appended to the archive stream for PostgreSQL. The caller has already taken the id
-- off the client's queue.
local function finish(id, record, status, result, err, now, keep)
  local client = record.c
  redis.call('HDEL', KEYS[2], id)
  record.id = id
  record.st = status
  record.f = now
  record.r = result
  record.er = err
  record.w = nil
  record.l = nil
  local final = cjson.encode(record)
  redis.call('SET', base .. 'done:' .. id, final, 'PX', retentionMs)

  local finished = base .. 'fin:' .. client
  local count = redis.call('RPUSH', finished, id)
  if count > keep then
    for _, old in ipairs(redis.call('LPOP', finished, count - keep)) do
      redis.call('DEL', base .. 'done:' .. old)
    end
  end
  redis.call('XADD', KEYS[5], '*', 'r', final)
  if status ~= 'succeeded' then redis.call('HINCRBY', KEYS[6], status, 1) end
  redis.call('HINCRBY', base .. 'client:' .. client, status, 1)
  emitEvent(client, id, status, record.a, now)
end

-- After a client's head ended: back to the tail of the ring if more is queued. A drained client
-- keeps nothing but expiring retention: its finished list and counters start their countdown,
-- and a logged-out client's idempotency keys go at once.
local function advanceClient(client)
  if redis.call('LLEN', base .. 'q:' .. client) > 0 then
    pushReady(client)
    return
  end
  local meta = base .. 'client:' .. client
  if redis.call('HGET', meta, 'gone') == '1' then
    redis.call('HDEL', meta, 'gone')
    redis.call('DEL', base .. 'idem:' .. client)
  end
  redis.call('PEXPIRE', meta, retentionMs)
  redis.call('PEXPIRE', base .. 'fin:' .. client, retentionMs)
end

-- Appends one attempt to the record's history (only failed attempts are kept).
local function recordAttemptFailure(record, err, now)
  local history = record.h or {}
  history[#history + 1] = { a = record.a, s = record.s, f = now, er = err }
  record.h = history
end
