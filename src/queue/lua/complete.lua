--[[ complete: ends an attempt (success or failure) and claims the next heads in the same call.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] id
ARGV[4] fence          the token of the claim being ended
ARGV[5] outcome        'ok' or 'error'
ARGV[6] value          result (JSON text) when ok; error JSON {message, code} when error
ARGV[7] retryDelayMs   backoff before the next attempt, chosen by the worker (jitter included);
                       used only while attempts remain; negative = the error is permanent, no retry
ARGV[8] retentionMs    how long the final record stays readable in Redis
ARGV[9] keep           most finished records kept per client
ARGV[10] claimCount    how many heads to claim for the freed slot (0 to stop)
ARGV[11] leaseMs       lease of those new claims
Returns {result, remaining, claimed}: result is 'succeeded', 'failed' (dead-lettered), 'retrying'
or 'stale' (the fence no longer holds: another claim owns the request, nothing was changed);
remaining and claimed as in claim.lua.
Order: a retried request stays at the head of its client's queue and the client stays out of the
ring until the retry is due, so nothing of that client overtakes it. ]]
--- @include "includes/shard_keys"
--- @include "includes/claim_heads"
--- @include "includes/finish"

local id, fence, outcome, value = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local retryDelayMs, retentionMs, keep = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now = nowMs()
local result = 'stale'

local owner = redis.call('HGET', KEYS[3], id)
local ownerFence, client = nil, nil
if owner then ownerFence, client = string.match(owner, '^(%d+):(.*)$') end
if ownerFence == fence then
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  local record = cjson.decode(redis.call('HGET', KEYS[2], id))
  local queue = base .. 'q:' .. client
  if outcome == 'ok' then
    redis.call('LPOP', queue)
    finish(id, record, 'succeeded', value, nil, now, retentionMs, keep)
    advanceClient(client)
    result = 'succeeded'
  else
    local err = cjson.decode(value)
    recordAttemptFailure(record, err, now)
    if retryDelayMs >= 0 and record.a < record.m then
      record.w = now + retryDelayMs
      redis.call('HSET', KEYS[2], id, cjson.encode(record))
      redis.call('ZADD', KEYS[5], record.w, client)
      result = 'retrying'
    else
      redis.call('LPOP', queue)
      finish(id, record, 'failed', nil, err, now, retentionMs, keep)
      advanceClient(client)
      result = 'failed'
    end
  end
end

local claimed = {}
claimHeads(tonumber(ARGV[10]), tonumber(ARGV[11]), now, claimed)
wakeWorkersIfNeeded()
return { result, redis.call('LLEN', KEYS[1]), claimed }
