--[[ upgrade_client_layout: rewrites one client's queue from the layout before the heads hash (every
request in jobs with its client `c`, the head first in q:<client>, leases by request id) into
today's (see includes/shard_keys.lua). Run by `npm run upgrade:redis` with every laneq process
stopped; running it again, or on a client already in today's layout, changes nothing.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
Returns the number of the client's requests rewritten (0: nothing to do). ]]
--- @include "includes/shard_keys"
--- @include "includes/record"

local client = ARGV[3]
if redis.call('HEXISTS', KEYS[8], client) == 1 then return 0 end
local queue = base .. 'q:' .. client
local ids = redis.call('LRANGE', queue, 0, -1)
local hasHead = false
local backlog = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local record = cjson.decode(raw)
    record.c = nil
    record.i = id
    if not hasHead then
      -- The first request with a record is the head, its lease (if running) becomes the client's.
      hasHead = true
      redis.call('HDEL', KEYS[2], id)
      redis.call('HSET', KEYS[8], client, encodeRecord(record))
      local deadline = redis.call('ZSCORE', KEYS[3], id)
      if deadline then
        redis.call('ZREM', KEYS[3], id)
        redis.call('ZADD', KEYS[3], deadline, client)
      end
    else
      redis.call('HSET', KEYS[2], id, backlogRecord(record.k or 0, encodeRest(record)))
      backlog[#backlog + 1] = id
    end
  end
end
redis.call('DEL', queue)
for start = 1, #backlog, 1000 do
  redis.call('RPUSH', queue, unpack(backlog, start, math.min(start + 999, #backlog)))
end
if not hasHead then
  -- Ids without records cannot run: the client had nothing left.
  redis.call('LREM', KEYS[1], 0, client)
  redis.call('ZREM', KEYS[4], client)
  return 0
end
return #backlog + 1
