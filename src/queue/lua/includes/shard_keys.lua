-- Every engine script receives the same eight shard keys, all in one hash slot ({prefix:s}):
--   KEYS[1] ready    LIST  clients whose head request can start now (the round-robin ring)
--   KEYS[2] jobs     HASH  request id -> JSON record, for every request not yet finished
--   KEYS[3] running  HASH  request id -> "<fence>:<client>", for every claimed request
--   KEYS[4] leases   ZSET  request id scored by its lease deadline (Redis clock, ms)
--   KEYS[5] delayed  ZSET  client id scored by the time its head's retry is due
--   KEYS[6] fence    STRING counter handing out fencing tokens
--   KEYS[7] archive  STREAM final records waiting to be written to PostgreSQL
--   KEYS[8] stats    HASH  shard totals (succeeded, failed, cancelled)
-- and ARGV[1] = the shard's key base "<prefix>:{s<n>}:", from which per-client keys are derived
-- (q:<client>, fin:<client>, out:<client>, idem:<client>, client:<client>, done:<id>). Those keys
-- carry the same hash tag, so they live in the same slot as KEYS[1..8]: Redis Cluster accepts the
-- access; they cannot be listed in KEYS because which client comes next is only known inside.
-- ARGV[2] = the wake channel, published to when the ready ring goes from empty to non-empty.
local base = ARGV[1]
local wakeChannel = ARGV[2]

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Idle workers block on the wake channel instead of polling; they only need to hear about the
-- ring going from empty to non-empty (a busy worker claims again as soon as a slot frees).
local readyWasEmpty = redis.call('LLEN', KEYS[1]) == 0
local function wakeWorkersIfNeeded()
  if readyWasEmpty and redis.call('LLEN', KEYS[1]) > 0 then
    redis.call('PUBLISH', wakeChannel, KEYS[1])
  end
end
