--[[ requeue_dead_letter: puts a dead-lettered (failed) request back at the tail of its client's
queue, for an administrator's retry.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] client    the request's client (this shard is its shard)
ARGV[4] id
ARGV[5] record    its final record JSON (as finish() writes it), read from the PostgreSQL archive
                  when Redis no longer holds it; the one Redis still holds, if any, is fresher and wins
ARGV[6] maxDepth  as in enqueue.lua
Returns {outcome, position}: 'queued' with the number of the client's requests ahead of it;
'not_retryable' (-1) when the request is not failed (queued or running again, or it ended
otherwise); 'not_found' (-1) when the record belongs to another client.
Error 'QUEUE_FULL <client>' when the client already has maxDepth requests pending: nothing written.
The request keeps its id, type, payload, limits, enqueue time and history of failed attempts, and
its attempts count from 0 again. Invariants kept as in enqueue.lua: a client is in the ready ring
iff its queue is non-empty and its head is neither running nor waiting for a retry, so only a
queue going from empty to non-empty joins the ring, and that starts a new busy period (retention
countdowns stop); watched clients hear a 'queued' event. A logged-out client's 'gone' mark stays:
the retry is not the client returning. The shard's dead-letter total (stats `failed`) drops by
one. The client's own counters are left as they are: they number its outbox (see
dequeue_result.lua), so the request's next end is counted, and handed out, once more. ]]
--- @include "includes/shard_keys"
--- @include "includes/client_queue"

local client, id, maxDepth = ARGV[3], ARGV[4], tonumber(ARGV[6])
if findUnfinished(client, id) then return { 'not_retryable', -1 } end
local record = cjson.decode(finalRecord(client, id) or ARGV[5])
if record.c ~= client then return { 'not_found', -1 } end
if record.st ~= 'failed' then return { 'not_retryable', -1 } end
if pendingCount(client) + 1 > maxDepth then return redis.error_reply('QUEUE_FULL ' .. client) end

-- The claim counter carries on, so that a fence handed out before the dead letter never matches again.
local position = appendRequest(client, id, record.k or 0, encodeRest({
  t = record.t, p = record.p, m = record.m, o = record.o, e = record.e, h = record.h,
}))
if position == 0 then
  stopRetentionCountdown(client)
  pushReady(client)
end
emitEvent(client, id, 'queued', 0, nowMs())
if tonumber(redis.call('HGET', KEYS[6], 'failed') or 0) > 0 then redis.call('HINCRBY', KEYS[6], 'failed', -1) end
flushBacklogCount()
readyLengthAndWake()
return { 'queued', position }
