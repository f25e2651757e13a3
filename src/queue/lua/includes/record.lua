-- Stored record layout. The claim state and the id come first, always in this order:
--   {"l":<0|1>,"k":<claims>,"a":<attempts>,"s":<startedAt or 0>,"i":"<id>", ...the rest, as cjson writes it}
-- so that the hot scripts (claim, complete) read and rewrite it with string operations instead of
-- decoding and re-encoding the whole record (cjson was a fifth of Redis's time per request),
-- while every other reader, in Lua or in Node, still sees one plain JSON object.
-- A stored record names no client: it is found through its client (heads field, q:<client>),
-- and leaving the client id out saves about 45 bytes per queued request.
local RECORD_HEAD = '^{"l":(%d),"k":(%d+),"a":(%d+),"s":(%d+),"i":"([^"]*)",'

-- A stored record from its head and the rest of its JSON (everything after the head's comma).
local function withHead(leased, claims, attempts, startedAt, id, rest)
  return '{"l":' .. leased .. ',"k":' .. claims .. ',"a":' .. attempts .. ',"s":' .. startedAt .. ',"i":"' .. id .. '",' .. rest
end

-- The rest of a new request's record (as encodeRest would write it), from the enqueue call's
-- arguments: the numbers arrive as decimal text and stay text (see clockNow).
local function newRequestRest(type, payload, maxAttempts, timeoutMs, enqueuedAt)
  if not string.find(maxAttempts, '^%d+$') or not string.find(timeoutMs, '^%d+$') then
    error('maxAttempts and timeoutMs must be whole numbers')
  end
  return '"t":' .. cjson.encode(type) .. ',"p":' .. cjson.encode(payload) .. ',"m":' .. maxAttempts ..
    ',"o":' .. timeoutMs .. ',"e":' .. enqueuedAt .. '}'
end

-- The JSON of a record's fields other than the claim state and id, without its opening brace.
local function encodeRest(record)
  local l, k, a, s, i = record.l, record.k, record.a, record.s, record.i
  record.l, record.k, record.a, record.s, record.i = nil, nil, nil, nil, nil
  local rest = cjson.encode(record)
  record.l, record.k, record.a, record.s, record.i = l, k, a, s, i
  return string.sub(rest, 2)
end

local function encodeRecord(record)
  return withHead(record.l or 0, record.k or 0, record.a or 0, record.s or 0, record.i, encodeRest(record))
end

-- A request behind its client's head (in its backlog, q:<client>) has never started since it was queued: its
-- record keeps only the claim counter, {"k":<claims>, ...the rest}. The id (the field's name),
-- the lease mark, attempts and start are added when it becomes the head; leaving them out saves
-- about 64 bytes of Redis memory per queued request.
local BACKLOG_HEAD = '^{"k":(%d+),'

local function backlogRecord(claims, rest)
  return '{"k":' .. claims .. ',' .. rest
end

-- The head record of request `id` from its backlog record, then its claim counter and the rest
-- of its record, so that a caller starting it at once need not parse the head again (a record
-- already in the head layout, e.g. written by `upgrade_client_layout.lua` before, is kept as it
-- is and returned alone).
local function headFromBacklog(raw, id)
  local _, headEnd, claims = string.find(raw, BACKLOG_HEAD)
  if not headEnd then return raw end
  local rest = string.sub(raw, headEnd + 1)
  return withHead('0', claims, '0', '0', id, rest), claims, rest
end

-- Reads the head without decoding: leased ('0' | '1'), claims, attempts, startedAt (as strings),
-- the id, and the index where the rest of the record starts.
local function recordHead(raw)
  local _, headEnd, l, k, a, s, i = string.find(raw, RECORD_HEAD)
  return l, k, a, s, i, headEnd and headEnd + 1
end

local function isLeased(record)
  return record.l == 1
end
