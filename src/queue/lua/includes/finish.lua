-- Moves a request to its final state: the record leaves `jobs`, a final copy is kept for reading
-- (done:<id>, expiring after the retention window, and at most `keep` per client), the id joins the
-- client's outbox, and the record is appended to the archive stream for PostgreSQL.
-- The caller has already taken the id off the client's queue.
local function finish(id, record, status, result, err, now, retentionMs, keep)
  local client = record.c
  redis.call('HDEL', KEYS[2], id)
  record.id = id
  record.st = status
  record.f = now
  record.r = result
  record.er = err
  record.w = nil
  local final = cjson.encode(record)
  redis.call('SET', base .. 'done:' .. id, final, 'PX', retentionMs)

  local finished = base .. 'fin:' .. client
  local count = redis.call('RPUSH', finished, id)
  if count > keep then
    for _, old in ipairs(redis.call('LPOP', finished, count - keep)) do
      redis.call('DEL', base .. 'done:' .. old)
    end
  end
  redis.call('PEXPIRE', finished, retentionMs)

  local outbox = base .. 'out:' .. client
  if redis.call('RPUSH', outbox, id) > keep then redis.call('LPOP', outbox) end
  redis.call('PEXPIRE', outbox, retentionMs)

  redis.call('XADD', KEYS[7], '*', 'r', final)
  redis.call('HINCRBY', KEYS[8], status, 1)
  local meta = base .. 'client:' .. client
  redis.call('HINCRBY', meta, status, 1)
  redis.call('PEXPIRE', meta, retentionMs)
end

-- After a client's head ended: back to the tail of the ring if more is queued; otherwise, if the
-- client has logged out, nothing of its queue remains (finished records expire on their own).
local function advanceClient(client)
  if redis.call('LLEN', base .. 'q:' .. client) > 0 then
    redis.call('RPUSH', KEYS[1], client)
  elseif redis.call('HGET', base .. 'client:' .. client, 'gone') == '1' then
    redis.call('DEL', base .. 'client:' .. client, base .. 'idem:' .. client)
  end
end

-- Appends one attempt to the record's history (only failed attempts are kept).
local function recordAttemptFailure(record, err, now)
  local history = record.h or {}
  history[#history + 1] = { a = record.a, s = record.s, f = now, er = err }
  record.h = history
end
