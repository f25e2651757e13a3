--[[ claim: starts up to `count` clients' head requests under a lease.
KEYS[1..8] shard keys (see includes/shard_keys.lua); ARGV[1] key base, ARGV[2] wake channel.
ARGV[3] count    how many clients' heads to claim at most
ARGV[4] leaseMs  lease length; the worker extends it by heartbeat
ARGV[5] runMax   most requests of one client per claim (a run, see includes/claim_heads.lua; 1: none)
Returns {remaining, claimed}: `remaining` is the ready ring's length afterwards (0 tells the worker
this shard is idle), `claimed` a list of {client, id, fence, attempt, record JSON[, run]} (the record
as stored: type t, payload p, maxAttempts m, timeoutMs o, enqueuedAt e; run: {id, record JSON, ...}
of the requests that follow it in the run, records as stored in the backlog). The fence is a token that
only this claim holds: complete, fail and heartbeat are refused once the request has been claimed
again. ]]
--- @include "includes/shard_keys"
--- @include "includes/claim_heads"

local claimed = {}
claimHeads(tonumber(ARGV[3]), claimTerms(tonumber(ARGV[4]), tonumber(ARGV[5])), claimed)
return { readyLengthAndWake(), claimed }
