package seating

import "github.com/redis/go-redis/v9"

// The Lua scripts of the Redis store, one per state change. Each mirrors a
// method of standLedger in stand.go, step for step and in the same order:
// change one, change both (TestRedisMatchesMemory compares them on a random
// sequence of calls). KEYS are always the twelve keys of Redis.Keys.

// redisStorePrelude starts every script but prepare. ARGV[1] is the clock
// in ms, or -1 for Redis's TIME; ARGV[2] the log size. It answers {'np'}
// for a stand never prepared, and defines the steps standLedger has:
// change, flush (the counts), finish (version and change log), parse and
// format of hold records, drop, sweep and reply. A change of k seats costs
// two BITFIELDs; a step's counts one more, whatever it changed.
const redisStorePrelude = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local logMax = tonumber(ARGV[2])
local m = redis.call('HMGET', KEYS[1], 'v', 'n', 'tc', 'nr')
if not m[1] then return {'np'} end
local version, nseats, ntiers, nrows = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
local bumped = false
local logs, cnt, runs = {}, {}, {}

local function change(seats, from, to)
  local k = #seats
  if k == 0 then return end
  local n = 0
  if not bumped then version = version + 1; bumped = true else n = #logs end
  local ia, sa = {}, {}
  for i = 1, k do
    local o = '#' .. seats[i]
    ia[#ia + 1] = 'GET'; ia[#ia + 1] = 'u32'; ia[#ia + 1] = o
    sa[#sa + 1] = 'SET'; sa[#sa + 1] = 'u2'; sa[#sa + 1] = o; sa[#sa + 1] = to
  end
  local info = redis.call('BITFIELD_RO', KEYS[9], unpack(ia))
  redis.call('BITFIELD', KEYS[2], unpack(sa))
  for i = 1, k do
    local t = math.floor(info[i] / 16777216)
    local f, g = t * 4 + from, t * 4 + to
    cnt[f] = (cnt[f] or 0) - 1
    cnt[g] = (cnt[g] or 0) + 1
    if to == 0 then
      runs[5 * ntiers + t * nrows + info[i] % 16777216] = 2147483647
      runs[4 * ntiers + t] = 2147483647
    end
    logs[#logs + 1] = string.format('%d:%d:%d:%d', version, seats[i], to, n + i - 1)
  end
end

local function flush()
  local a = {}
  for slot, d in pairs(cnt) do
    if d ~= 0 then
      a[#a + 1] = 'INCRBY'; a[#a + 1] = 'u32'; a[#a + 1] = '#' .. slot; a[#a + 1] = d
    end
  end
  for slot, v in pairs(runs) do
    a[#a + 1] = 'SET'; a[#a + 1] = 'u32'; a[#a + 1] = '#' .. slot; a[#a + 1] = v
    if #a >= 4000 then redis.call('BITFIELD', KEYS[10], unpack(a)); a = {} end
  end
  if #a > 0 then redis.call('BITFIELD', KEYS[10], unpack(a)) end
  cnt, runs = {}, {}
end

local function finish()
  flush()
  if not bumped then return end
  bumped = false
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  local len, i = 0, 1
  while i <= #logs do
    local j = math.min(i + 999, #logs)
    len = redis.call('RPUSH', KEYS[7], unpack(logs, i, j))
    i = j + 1
  end
  logs = {}
  if len > logMax then redis.call('LTRIM', KEYS[7], -logMax, -1) end
end

local function parse(r)
  local st, c, e, v, ss, key, owner = string.match(r, '^(%a)|(%d+)|(%d+)|(%d+)|([%d,]*)|([^|]*)|(.*)$')
  local seats = {}
  for x in string.gmatch(ss, '%d+') do seats[#seats + 1] = tonumber(x) end
  return {st = st, c = tonumber(c), e = tonumber(e), v = tonumber(v), seats = seats, key = key, owner = owner}
end

local function format(h)
  return h.st .. '|' .. string.format('%d|%d|%d|', h.c, h.e, h.v) .. table.concat(h.seats, ',') ..
    '|' .. h.key .. '|' .. h.owner
end

local function reply(id, h)
  return {'ok', id, h.st, h.e, h.v, unpack(h.seats)}
end

local function drop(id, h)
  change(h.seats, 1, 0)
  redis.call('HDEL', KEYS[4], unpack(h.seats))
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[5], id)
  if redis.call('HINCRBY', KEYS[6], h.owner, -#h.seats) <= 0 then redis.call('HDEL', KEYS[6], h.owner) end
  if h.key ~= '' then
    local kf = h.key .. '|' .. h.owner
    if redis.call('HGET', KEYS[12], kf) == id then redis.call('HDEL', KEYS[12], kf) end
  end
end

local function sweep()
  local ids = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  for _, id in ipairs(ids) do
    local r = redis.call('HGET', KEYS[3], id)
    if r then drop(id, parse(r)) else redis.call('ZREM', KEYS[5], id) end
  end
end

local function u32(s, i)
  local a, b, c, d = string.byte(s, i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
`

// holdScript mirrors standLedger.hold. ARGV[3] is the new hold id, [4] the
// owner, [5] the TTL in ms, [6] MaxSeats, [7] the idempotency key or an
// empty string, [8] the tier and [9] the quantity of a best-available hold,
// [10…] the sorted seats of an explicit one. Best available is
// standLedger's bestAvailable (bestLookahead is 8): the tier's free count
// and run bound are one BITFIELD, its row bounds one GETRANGE, and each row
// scanned two (its status bytes and tiers).
var holdScript = redis.NewScript(redisStorePrelude + `
local id, owner, key = ARGV[3], ARGV[4], ARGV[7]
local ttl, cap, tier, q = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[8]), tonumber(ARGV[9])
local seats = {}
for i = 10, #ARGV do seats[#seats + 1] = tonumber(ARGV[i]) end
local want = q
if #seats > 0 then
  want = #seats
  if seats[#seats] >= nseats then return {'inv', version, nseats} end
elseif tier >= ntiers then
  return {'inv', version, ntiers}
end
local kf
if key ~= '' then
  kf = key .. '|' .. owner
  local prev = redis.call('HGET', KEYS[12], kf)
  if prev then
    local r = redis.call('HGET', KEYS[3], prev)
    if not r then
      redis.call('HDEL', KEYS[12], kf)
    else
      local h = parse(r)
      if h.st == 'c' or now < h.e then return reply(prev, h) end
      drop(prev, h)
    end
  end
end
if cap > 0 then
  local held = tonumber(redis.call('HGET', KEYS[6], owner) or 0)
  if held + want > cap then
    sweep()
    held = tonumber(redis.call('HGET', KEYS[6], owner) or 0)
    if held + want > cap then finish(); return {'cap', version, held} end
  end
end
if #seats > 0 then
  local ga = {}
  for _, s in ipairs(seats) do ga[#ga + 1] = 'GET'; ga[#ga + 1] = 'u2'; ga[#ga + 1] = '#' .. s end
  local st = redis.call('BITFIELD_RO', KEYS[2], unpack(ga))
  local held = {}
  for i, s in ipairs(seats) do if st[i] == 1 then held[#held + 1] = s end end
  local freed = {}
  if #held > 0 then
    local ids = redis.call('HMGET', KEYS[4], unpack(held))
    for i, hid in ipairs(ids) do
      if hid and not freed[held[i]] then
        local r = redis.call('HGET', KEYS[3], hid)
        if r then
          local h = parse(r)
          if h.st == 'a' and h.e <= now then
            drop(hid, h)
            for _, s in ipairs(h.seats) do freed[s] = true end
          end
        end
      end
    end
  end
  local taken = {}
  for i, s in ipairs(seats) do if st[i] ~= 0 and not freed[s] then taken[#taken + 1] = s end end
  if #taken > 0 then finish(); return {'cf', version, unpack(taken)} end
else
  sweep()
  flush()
  local tf = redis.call('BITFIELD_RO', KEYS[10], 'GET', 'u32', '#' .. (tier * 4), 'GET', 'u32', '#' .. (4 * ntiers + tier))
  if tf[1] < q or tf[2] < q then finish(); return {'ns', version} end
  local rbase = 5 * ntiers + tier * nrows
  local bounds = redis.call('GETRANGE', KEYS[10], rbase * 4, (rbase + nrows) * 4 - 1)
  local rs = redis.call('GET', KEYS[11])
  local SH = {64, 16, 4, 1}
  local best, fallback, extra, all = nil, nil, 0, 0
  for r = 0, nrows - 1 do
    local bound = u32(bounds, r * 4 + 1)
    if bound < q then
      if bound > all then all = bound end
    else
      if fallback then
        if extra == 8 then break end
        extra = extra + 1
      end
      local a, b = u32(rs, r * 4 + 1), nseats - 1
      if r + 1 < nrows then b = u32(rs, r * 4 + 5) - 1 end
      local a4 = (a - a % 4) / 4
      local sb = redis.call('GETRANGE', KEYS[2], a4, (b - b % 4) / 4)
      local tb = redis.call('GETRANGE', KEYS[8], a, b)
      local run, longest, perfect, strands = 0, 0, nil, nil
      for i = a, b + 1 do
        local free = false
        if i <= b and string.byte(tb, i - a + 1) == tier then
          local byte, sh = string.byte(sb, (i - i % 4) / 4 - a4 + 1), SH[i % 4 + 1]
          free = byte % (sh * 4) < sh
        end
        if free then
          run = run + 1
        else
          if run > longest then longest = run end
          if not perfect and (run == q or run >= q + 2) then perfect = i - run end
          if not strands and run == q + 1 then strands = i - run end
          run = 0
        end
      end
      runs[rbase + r] = longest
      if longest > all then all = longest end
      if perfect then best = perfect; break end
      if not fallback then fallback = strands end
    end
  end
  if not best and not fallback then runs[4 * ntiers + tier] = all end
  best = best or fallback
  if not best then finish(); return {'ns', version} end
  for k = 0, q - 1 do seats[k + 1] = best + k end
end
change(seats, 0, 1)
local o = {}
for _, s in ipairs(seats) do o[#o + 1] = s; o[#o + 1] = id end
redis.call('HSET', KEYS[4], unpack(o))
local h = {st = 'a', c = now, e = now + ttl, v = version, seats = seats, key = key, owner = owner}
redis.call('HSET', KEYS[3], id, format(h))
redis.call('ZADD', KEYS[5], h.e, id)
redis.call('HINCRBY', KEYS[6], owner, #seats)
if kf then redis.call('HSET', KEYS[12], kf, id) end
finish()
return reply(id, h)
`)

// redisHoldLookup starts the scripts of Extend, Release and Confirm: ARGV[3] is
// the hold id, ARGV[4] the owner. It mirrors standLedger.lookup, leaving
// the record in h, or answers {'nf'} or {'no'}.
const redisHoldLookup = `
local id, owner = ARGV[3], ARGV[4]
local r = redis.call('HGET', KEYS[3], id)
if not r then return {'nf', version} end
local h = parse(r)
if h.owner ~= owner then return {'no', version} end
`

// extendScript mirrors standLedger.extend. ARGV[5] is the TTL in ms,
// ARGV[6] the cap on the hold's whole life in ms.
var extendScript = redis.NewScript(redisStorePrelude + redisHoldLookup + `
if h.st == 'c' then return {'cd', version} end
if h.e <= now then drop(id, h); finish(); return {'ex', version} end
local e = math.min(now + tonumber(ARGV[5]), h.c + tonumber(ARGV[6]))
if e > h.e then
  h.e = e
  redis.call('HSET', KEYS[3], id, format(h))
  redis.call('ZADD', KEYS[5], e, id)
end
h.v = version
return reply(id, h)
`)

// releaseScript mirrors standLedger.release: a missing hold is released.
var releaseScript = redis.NewScript(redisStorePrelude + `
local id, owner = ARGV[3], ARGV[4]
local r = redis.call('HGET', KEYS[3], id)
if not r then return {'ok', version} end
local h = parse(r)
if h.owner ~= owner then return {'no', version} end
if h.st == 'c' then return {'cd', version} end
drop(id, h)
finish()
return {'ok', version}
`)

// confirmScript mirrors standLedger.confirm.
var confirmScript = redis.NewScript(redisStorePrelude + redisHoldLookup + `
if h.st == 'c' then return reply(id, h) end
if h.e <= now then drop(id, h); finish(); return {'ex', version} end
change(h.seats, 1, 2)
h.st = 'c'
h.v = version
redis.call('HSET', KEYS[3], id, format(h))
redis.call('ZREM', KEYS[5], id)
if redis.call('HINCRBY', KEYS[6], owner, -#h.seats) <= 0 then redis.call('HDEL', KEYS[6], owner) end
finish()
return reply(id, h)
`)

// snapshotScript mirrors standLedger.snapshot: the version, the clock, the
// status string and the counts of each tier.
var snapshotScript = redis.NewScript(redisStorePrelude + `
sweep()
finish()
return {version, now, redis.call('GET', KEYS[2]), redis.call('GETRANGE', KEYS[10], 0, ntiers * 16 - 1)}
`)

// changesScript mirrors standLedger.changes. ARGV[3] is since. The newest
// version trimmed from the log is that of its first entry, less one when
// that entry is its version's first (index 0). It reads the log from its
// end in pages, so a recent since costs little.
var changesScript = redis.NewScript(redisStorePrelude + `
local since = tonumber(ARGV[3])
local trimmed = version
local first = redis.call('LINDEX', KEYS[7], 0)
if first then
  local v, i = string.match(first, '^(%d+):%d+:%d+:(%d+)$')
  trimmed = tonumber(v)
  if i == '0' then trimmed = trimmed - 1 end
end
if since > version or since < trimmed then return {version, 0} end
local out = {}
local hi = redis.call('LLEN', KEYS[7]) - 1
local done = false
while hi >= 0 and not done do
  local lo = math.max(0, hi - 255)
  local part = redis.call('LRANGE', KEYS[7], lo, hi)
  for i = #part, 1, -1 do
    if tonumber(string.match(part[i], '^(%d+):')) <= since then done = true; break end
    out[#out + 1] = part[i]
  end
  hi = lo - 1
end
local res = {version, 1}
for i = #out, 1, -1 do res[#res + 1] = out[i] end
return res
`)

// dumpScript reads everything of a stand, sweeping nothing.
var dumpScript = redis.NewScript(redisStorePrelude + `
return {version, now, redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[6]), redis.call('GET', KEYS[10])}
`)

// prepareScript creates a stand unless its meta exists. ARGV[1..3] are the
// seat, tier and row counts; [4] the status string, [5] the tiers, [6] the
// seat infos, [7] the counts, [8] the row starts. Keys left by a lost meta
// are dropped: the stand starts over whole. It answers {1} when created,
// else {0, seats, tiers}.
var prepareScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'n', 'tc')
if m[1] then return {0, tonumber(m[1]), tonumber(m[2])} end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[12])
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[8], ARGV[5])
redis.call('SET', KEYS[9], ARGV[6])
redis.call('SET', KEYS[10], ARGV[7])
redis.call('SET', KEYS[11], ARGV[8])
redis.call('HSET', KEYS[1], 'v', 0, 'n', ARGV[1], 'tc', ARGV[2], 'nr', ARGV[3])
return {1}
`)

// redisScripts are loaded by Prepare.
var redisScripts = []*redis.Script{
	holdScript, extendScript, releaseScript, confirmScript, snapshotScript, changesScript, dumpScript, prepareScript,
}
