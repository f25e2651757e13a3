--[[ upgrade_client_layout: rewrites one client's queue from an earlier layout into today's (see
includes/shard_keys.lua and includes/client_queue.lua). Two earlier layouts had q:<client> list
only ids, with every record in the shard's `jobs` hash (KEYS[2]):
  - before the heads hash, every request was in jobs with its client `c`, the head first in
    q:<client>, and leases were held by request id;
  - before backlog records moved into q:<client>, the head was in `heads` and jobs held the
    records of the requests behind it.
Run by `npm run upgrade:redis` with every laneq process stopped; running it again, or on a client
already in today's layout, changes nothing.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client
Returns the number of the client's requests rewritten (0: nothing to do). ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client = ARGV[3]
local queue = backlogKey(client)
local elements = redis.call('LRANGE', queue, 0, -1)
-- Today's backlog alternates ids and records, and a record starts with '{', an id never does.
if #elements == 0 or (elements[2] and string.sub(elements[2], 1, 1) == '{') then return 0 end

local hadHead = redis.call('HEXISTS', KEYS[8], client) == 1
local hasHead = hadHead
local rewritten = 0
local backlog = {}

-- Before the heads hash: the first request with a record is the head, its lease (if running)
-- becomes the client's.
local function storeAsHead(id, record)
  redis.call('HSET', KEYS[8], client, encodeRecord(record))
  local deadline = redis.call('ZSCORE', KEYS[3], id)
  if deadline then
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZADD', KEYS[3], deadline, client)
  end
end

for _, id in ipairs(elements) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    redis.call('HDEL', KEYS[2], id)
    rewritten = rewritten + 1
    if hadHead then
      -- Behind a head of the heads hash, jobs held the record as today's backlog keeps it.
      backlog[#backlog + 1] = id
      backlog[#backlog + 1] = raw
    else
      local record = cjson.decode(raw)
      record.c = nil
      record.i = id
      if not hasHead then
        hasHead = true
        storeAsHead(id, record)
      else
        backlog[#backlog + 1] = id
        backlog[#backlog + 1] = backlogRecord(record.k or 0, encodeRest(record))
      end
    end
  end
end
redis.call('DEL', queue)
countBacklog(#backlog / 2)
for start = 1, #backlog, 1000 do
  redis.call('RPUSH', queue, unpack(backlog, start, math.min(start + 999, #backlog)))
end
if not hasHead then
  -- Ids without records cannot run: the client had nothing left.
  redis.call('LREM', KEYS[1], 0, client)
  redis.call('ZREM', KEYS[4], client)
end
flushBacklogCount()
return rewritten
