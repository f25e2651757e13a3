-- Stored record layout. The claim state comes first, always in this order:
--   {"l":<0|1>,"k":<claims>,"a":<attempts>,"s":<startedAt or 0>, ...the rest, as cjson writes it}
-- so that the hot scripts (claim, complete) read and rewrite it with string operations instead of
-- decoding and re-encoding the whole record (cjson was a fifth of Redis's time per request),
-- while every other reader, in Lua or in Node, still sees one plain JSON object.
local RECORD_HEAD = '^{"l":(%d),"k":(%d+),"a":(%d+),"s":(%d+),'

-- A stored record from its head and the rest of its JSON (everything after the head's comma).
local function withHead(leased, claims, attempts, startedAt, rest)
  return '{"l":' .. leased .. ',"k":' .. claims .. ',"a":' .. attempts .. ',"s":' .. startedAt .. ',' .. rest
end

local function encodeRecord(record)
  local l, k, a, s = record.l, record.k, record.a, record.s
  record.l, record.k, record.a, record.s = nil, nil, nil, nil
  local rest = cjson.encode(record)
  record.l, record.k, record.a, record.s = l, k, a, s
  return withHead(l or 0, k or 0, a or 0, s or 0, string.sub(rest, 2))
end

-- Reads the head without decoding: leased ('0' | '1'), claims, attempts, startedAt (as strings),
-- and the index where the rest of the record starts.
local function recordHead(raw)
  local _, headEnd, l, k, a, s = string.find(raw, RECORD_HEAD)
  return l, k, a, s, headEnd and headEnd + 1
end

local function isLeased(record)
  return record.l == 1
end
