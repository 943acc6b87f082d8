package seating

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a Redis store. The zero value is ready to use.
type RedisOptions struct {
	// Prefix starts every key. Default "seat". It should hold no braces:
	// a hash tag in the prefix would put every stand in one Cluster slot.
	Prefix string
	// Now, when set, is the store's clock: each call passes its time in ms
	// to the script. Default nil: the scripts read Redis's own TIME, so
	// seating processes with skewed clocks agree. Tests set it to decide
	// expiry to the millisecond.
	Now func() time.Time
	// LogSize is how many seat changes each stand's change log keeps.
	// Default DefaultChangeLogSize.
	LogSize int
}

// Redis is a Store kept in Redis (single node, Sentinel or Cluster), shared
// by every seating process.
//
// A stand's state is twelve keys sharing one hash tag, so each script
// touches one slot and a stand is one serialisation point:
//
//	<prefix>:{ev:<event>:st:<stand>}:meta     hash: v (version), n (seats),
//	                                          tc (tiers), nr (rows), lt (newest
//	                                          version trimmed from the log), and
//	                                          f<t> h<t> s<t> b<t>: seats of tier t
//	                                          free, held, sold, blocked
//	…:status   string: 2 bits a seat (BITFIELD u2 #i), StandSnapshot.Status
//	…:holds    hash: hold id → "state|created_ms|expires_ms|version|seats|key|owner",
//	           state a (active) or c (confirmed), seats comma-separated
//	…:owners   hash: seat index → hold id, for held and sold seats
//	…:exp      sorted set: active hold id by expiry in ms, for the sweep
//	…:byowner  hash: owner → seats in their active holds (for MaxSeats)
//	…:log      list: "version:seat:status", the last LogSize changes
//	…:tiers    string: each seat's tier, a byte a seat (BITFIELD u8 #i)
//	…:seatrow  string: each seat's row, u32 a seat (BITFIELD u32 #i)
//	…:rowfree  string: free seats per row and tier, u32 at tier*rows+row
//	…:rows     string: each row's first seat, u32 big-endian
//	…:keys     hash: "<idempotency key>|<owner>" → hold id
//
// Hold, Extend, Release, Confirm, Snapshot and Changes are each one Lua
// script, one round trip (EVALSHA; Prepare loads every script with SCRIPT
// LOAD so the first hold of an on-sale needs no EVAL fallback). The scripts
// mirror standLedger in stand.go step for step: change one, change both.
// An explicit hold costs O(seats requested) commands and bytes; it never
// reads the whole status string. Expiry is decided inside the scripts
// against Redis's TIME (or RedisOptions.Now): a hold is valid while now <
// expiry. Redis replicates a script's effects, not the script (always since
// Redis 7), so reading TIME before writing is safe. Lua numbers are
// doubles: versions and ms timestamps stay far below 2⁵³.
//
// Redis is safe for concurrent use by many goroutines and many processes.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	now     func() time.Time
	logSize int
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store using client, which it owns from then on: Close
// closes it. Give the client timeouts that suit the service's store
// timeout; the context of each call bounds it too.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "seat"
	}
	if opts.LogSize <= 0 {
		opts.LogSize = DefaultChangeLogSize
	}
	return &Redis{client: client, prefix: opts.Prefix, now: opts.Now, logSize: opts.LogSize}
}

// redisKeyNames are the suffixes of a stand's keys, in the order of the
// scripts' KEYS.
var redisKeyNames = [...]string{"meta", "status", "holds", "owners", "exp", "byowner", "log", "tiers", "seatrow", "rowfree", "rows", "keys"}

// Keys returns the keys of event's stand, in the order of the scripts'
// KEYS: meta, status, holds, owners, exp, byowner, log, tiers, seatrow,
// rowfree, rows, keys. They share one hash tag. Tests and operators use
// it; callers of the Store need not.
func (r *Redis) Keys(event, stand string) []string {
	base := r.prefix + ":{ev:" + event + ":st:" + stand + "}:"
	keys := make([]string, len(redisKeyNames))
	for i, n := range redisKeyNames {
		keys[i] = base + n
	}
	return keys
}

// redisStorePrelude starts every script but prepare. ARGV[1] is the clock in
// ms, or -1 for Redis's TIME; ARGV[2] the log size. It answers {'np'} for
// a stand never prepared, and defines the steps standLedger has: change,
// flush (counts and row counts), finish (version and change log), parse
// and format of hold records, drop, sweep and reply.
const redisStorePrelude = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local logMax = tonumber(ARGV[2])
local m = redis.call('HMGET', KEYS[1], 'v', 'n', 'tc', 'nr', 'lt')
if not m[1] then return {'np'} end
local version, nseats, ntiers, nrows = tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
local L = {[0] = 'f', 'h', 's', 'b'}
local bumped = false
local logs, cnt, rowd = {}, {}, {}

local function change(seats, from, to)
  local k = #seats
  if k == 0 then return end
  if not bumped then version = version + 1; bumped = true end
  local ta, ra, sa = {}, {}, {}
  for i = 1, k do
    local o = '#' .. seats[i]
    ta[#ta + 1] = 'GET'; ta[#ta + 1] = 'u8'; ta[#ta + 1] = o
    ra[#ra + 1] = 'GET'; ra[#ra + 1] = 'u32'; ra[#ra + 1] = o
    sa[#sa + 1] = 'SET'; sa[#sa + 1] = 'u2'; sa[#sa + 1] = o; sa[#sa + 1] = to
  end
  local tiers = redis.call('BITFIELD_RO', KEYS[8], unpack(ta))
  local rows
  if from == 0 or to == 0 then rows = redis.call('BITFIELD_RO', KEYS[9], unpack(ra)) end
  redis.call('BITFIELD', KEYS[2], unpack(sa))
  for i = 1, k do
    local t = tiers[i]
    local f, g = L[from] .. t, L[to] .. t
    cnt[f] = (cnt[f] or 0) - 1
    cnt[g] = (cnt[g] or 0) + 1
    if rows then
      local slot = t * nrows + rows[i]
      if to == 0 then rowd[slot] = (rowd[slot] or 0) + 1 else rowd[slot] = (rowd[slot] or 0) - 1 end
    end
    logs[#logs + 1] = string.format('%d:%d:%d', version, seats[i], to)
  end
end

local function flush()
  for f, d in pairs(cnt) do
    if d ~= 0 then redis.call('HINCRBY', KEYS[1], f, d) end
  end
  cnt = {}
  local a = {}
  for slot, d in pairs(rowd) do
    if d ~= 0 then
      a[#a + 1] = 'INCRBY'; a[#a + 1] = 'u32'; a[#a + 1] = '#' .. slot; a[#a + 1] = d
    end
    if #a >= 4000 then redis.call('BITFIELD', KEYS[10], unpack(a)); a = {} end
  end
  if #a > 0 then redis.call('BITFIELD', KEYS[10], unpack(a)) end
  rowd = {}
end

local function finish()
  flush()
  if not bumped then return end
  bumped = false
  redis.call('HSET', KEYS[1], 'v', string.format('%d', version))
  local len, i = 0, 1
  while i <= #logs do
    local j = math.min(i + 999, #logs)
    len = redis.call('RPUSH', KEYS[7], unpack(logs, i, j))
    i = j + 1
  end
  logs = {}
  if len > logMax then
    local last = redis.call('LINDEX', KEYS[7], len - logMax - 1)
    redis.call('HSET', KEYS[1], 'lt', string.match(last, '^(%d+):'))
    redis.call('LTRIM', KEYS[7], len - logMax, -1)
  end
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
`

// holdScript mirrors standLedger.hold. ARGV[3] is the new hold id, [4] the
// owner, [5] the TTL in ms, [6] MaxSeats, [7] the idempotency key or an empty string,
// [8] the tier and [9] the quantity of a best-available hold, [10…] the
// sorted seats of an explicit one. Best available is standLedger's
// bestAvailable: the row counts of the tier are one GETRANGE, and each
// candidate row two GETRANGEs (its status bytes and tiers).
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
  if tonumber(redis.call('HGET', KEYS[1], 'f' .. tier) or 0) < q then finish(); return {'ns', version} end
  local rf = redis.call('GETRANGE', KEYS[10], tier * nrows * 4, (tier + 1) * nrows * 4 - 1)
  local rs = redis.call('GET', KEYS[11])
  local function u32(s, i)
    local a, b, c, d = string.byte(s, i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  local best, fallback
  for r = 0, nrows - 1 do
    if u32(rf, r * 4 + 1) >= q then
      local a, b = u32(rs, r * 4 + 1), nseats - 1
      if r + 1 < nrows then b = u32(rs, r * 4 + 5) - 1 end
      local a4 = math.floor(a / 4)
      local sb = redis.call('GETRANGE', KEYS[2], a4, math.floor(b / 4))
      local tb = redis.call('GETRANGE', KEYS[8], a, b)
      local run = 0
      for i = a, b + 1 do
        local free = false
        if i <= b and string.byte(tb, i - a + 1) == tier then
          free = bit.band(bit.rshift(string.byte(sb, math.floor(i / 4) - a4 + 1), 6 - 2 * (i % 4)), 3) == 0
        end
        if free then
          run = run + 1
        else
          if run == q or run >= q + 2 then best = i - run; break end
          if run == q + 1 and not fallback then fallback = i - run end
          run = 0
        end
      end
      if best then break end
    end
  end
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
// status string and the counts f h s b of each tier.
var snapshotScript = redis.NewScript(redisStorePrelude + `
sweep()
finish()
local f = {}
for t = 0, ntiers - 1 do
  f[#f + 1] = 'f' .. t; f[#f + 1] = 'h' .. t; f[#f + 1] = 's' .. t; f[#f + 1] = 'b' .. t
end
return {version, now, redis.call('GET', KEYS[2]), redis.call('HMGET', KEYS[1], unpack(f))}
`)

// changesScript mirrors standLedger.changes. ARGV[3] is since. It reads the
// log from its end in pages, so a recent since costs little.
var changesScript = redis.NewScript(redisStorePrelude + `
local since = tonumber(ARGV[3])
if since > version or since < tonumber(m[5] or 0) then return {version, 0} end
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
// seat rows, [7] the row counts, [8] the row starts; [9…] the count fields
// and values of meta. Keys left by a lost meta are dropped: the stand starts
// over whole. It answers {1} when created, else {0, seats, tiers}.
var prepareScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'n', 'tc')
if m[1] then return {0, tonumber(m[1]), tonumber(m[2])} end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[12])
redis.call('SET', KEYS[2], ARGV[4])
redis.call('SET', KEYS[8], ARGV[5])
redis.call('SET', KEYS[9], ARGV[6])
redis.call('SET', KEYS[10], ARGV[7])
redis.call('SET', KEYS[11], ARGV[8])
redis.call('HSET', KEYS[1], 'v', 0, 'lt', 0, 'n', ARGV[1], 'tc', ARGV[2], 'nr', ARGV[3], unpack(ARGV, 9))
return {1}
`)

// redisScripts are loaded by Prepare.
var redisScripts = []*redis.Script{holdScript, extendScript, releaseScript, confirmScript, snapshotScript, changesScript, dumpScript, prepareScript}

// Prepare implements Store. It loads every script, then creates each stand
// missing, one script call a stand.
func (r *Redis) Prepare(ctx context.Context, event string, stands []StandLayout) error {
	if err := storeCheckLayouts(event, stands); err != nil {
		return err
	}
	for _, s := range redisScripts {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return redisStoreError("prepare: script load", err)
		}
	}
	for _, l := range stands {
		v, err := prepareScript.Run(ctx, r.client, r.Keys(event, l.ID), redisPrepareArgs(l)...).Result()
		if err != nil {
			return redisStoreError("prepare", err)
		}
		vals, ok := v.([]any)
		if !ok || len(vals) == 0 {
			return redisUnexpected("prepare", v)
		}
		if created, _ := vals[0].(int64); created == 1 {
			continue
		}
		if len(vals) != 3 {
			return redisUnexpected("prepare", v)
		}
		n, _ := vals[1].(int64)
		tc, _ := vals[2].(int64)
		if err := storeSameShape(int(n), int(tc), l); err != nil {
			return err
		}
	}
	return nil
}

// redisPrepareArgs returns prepareScript's ARGV for l, built by standLedger so
// both stores start a stand alike.
func redisPrepareArgs(l StandLayout) []any {
	st := newStandLedger(l, 1)
	seatRow := make([]byte, 4*st.n)
	for i, r := range st.seatRow {
		binary.BigEndian.PutUint32(seatRow[4*i:], uint32(r))
	}
	rowFree := make([]byte, 4*len(st.rowFree))
	for i, c := range st.rowFree {
		binary.BigEndian.PutUint32(rowFree[4*i:], uint32(c))
	}
	rows := make([]byte, 4*len(st.rows))
	for i, s := range st.rows {
		binary.BigEndian.PutUint32(rows[4*i:], uint32(s))
	}
	args := []any{st.n, st.tierCount, len(st.rows), st.status, st.tiers, seatRow, rowFree, rows}
	for t, c := range st.counts {
		ts := strconv.Itoa(t)
		args = append(args, "f"+ts, c.Free, "h"+ts, c.Held, "s"+ts, c.Sold, "b"+ts, c.Blocked)
	}
	return args
}

// run runs a stand's script with the clock and log size first in ARGV.
func (r *Redis) run(ctx context.Context, s *redis.Script, event, stand string, extra ...any) ([]any, error) {
	now := int64(-1)
	if r.now != nil {
		now = r.now().UnixMilli()
	}
	args := make([]any, 0, 2+len(extra))
	args = append(args, now, r.logSize)
	args = append(args, extra...)
	v, err := s.Run(ctx, r.client, r.Keys(event, stand), args...).Result()
	if err != nil {
		return nil, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) == 0 {
		return nil, fmt.Errorf("seating: redis: unexpected script reply %v", v)
	}
	return vals, nil
}

// Hold implements Store.
func (r *Redis) Hold(ctx context.Context, event, stand string, req HoldRequest) (Hold, error) {
	seats, err := storeCheckHold(event, stand, req)
	if err != nil {
		return Hold{}, err
	}
	args := make([]any, 0, 7+len(seats))
	tier, q := -1, 0
	if len(seats) == 0 {
		tier, q = req.Tier, req.Quantity
	}
	args = append(args, storeNewHoldID(stand), req.Owner, req.TTL.Milliseconds(), req.MaxSeats, req.Key, tier, q)
	for _, s := range seats {
		args = append(args, s)
	}
	vals, err := r.run(ctx, holdScript, event, stand, args...)
	if err != nil {
		return Hold{}, redisStoreError("hold", err)
	}
	switch code, _ := vals[0].(string); code {
	case "ok":
		return redisParseHold(vals, stand, req.Owner)
	case "cf":
		ce := &ConflictError{Version: redisUint(vals, 1)}
		for _, x := range vals[2:] {
			s, _ := x.(int64)
			ce.Taken = append(ce.Taken, int(s))
		}
		return Hold{}, ce
	case "cap":
		return Hold{}, fmt.Errorf("%w: %d held, %d asked, at most %d", ErrCapExceeded, redisUint(vals, 2), len(seats)+q, req.MaxSeats)
	case "ns":
		return Hold{}, ErrNoSeats
	case "inv":
		if len(seats) > 0 {
			return Hold{}, storeInvalid("seat index %d out of range: stand %s has %d seats", seats[len(seats)-1], stand, redisUint(vals, 2))
		}
		return Hold{}, storeInvalid("tier %d out of range: stand %s has %d tiers", req.Tier, stand, redisUint(vals, 2))
	default:
		return Hold{}, redisCodeError("hold", event, stand, vals)
	}
}

// Extend implements Store.
func (r *Redis) Extend(ctx context.Context, event, holdID, owner string, ttl, maxTotal time.Duration) (Hold, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return Hold{}, err
	}
	if err := storeCheckTTL("ttl", ttl); err != nil {
		return Hold{}, err
	}
	if err := storeCheckTTL("max total", maxTotal); err != nil {
		return Hold{}, err
	}
	vals, err := r.run(ctx, extendScript, event, stand, holdID, owner, ttl.Milliseconds(), maxTotal.Milliseconds())
	if err != nil {
		return Hold{}, redisStoreError("extend", err)
	}
	if code, _ := vals[0].(string); code == "ok" {
		return redisParseHold(vals, stand, owner)
	}
	return Hold{}, redisCodeError("extend", event, stand, vals)
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, event, holdID, owner string) (uint64, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return 0, err
	}
	vals, err := r.run(ctx, releaseScript, event, stand, holdID, owner)
	if err != nil {
		return 0, redisStoreError("release", err)
	}
	if code, _ := vals[0].(string); code == "ok" {
		return redisUint(vals, 1), nil
	}
	return redisUint(vals, 1), redisCodeError("release", event, stand, vals)
}

// Confirm implements Store.
func (r *Redis) Confirm(ctx context.Context, event, holdID, owner string) (Hold, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return Hold{}, err
	}
	vals, err := r.run(ctx, confirmScript, event, stand, holdID, owner)
	if err != nil {
		return Hold{}, redisStoreError("confirm", err)
	}
	if code, _ := vals[0].(string); code == "ok" {
		return redisParseHold(vals, stand, owner)
	}
	return Hold{}, redisCodeError("confirm", event, stand, vals)
}

// Snapshot implements Store.
func (r *Redis) Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return StandSnapshot{}, err
	}
	vals, err := r.run(ctx, snapshotScript, event, stand)
	if err != nil {
		return StandSnapshot{}, redisStoreError("snapshot", err)
	}
	if len(vals) != 4 {
		return StandSnapshot{}, redisCodeError("snapshot", event, stand, vals)
	}
	status, _ := vals[2].(string)
	counts, _ := vals[3].([]any)
	snap := StandSnapshot{
		Stand: stand, Version: redisUint(vals, 0), Status: []byte(status),
		Tiers: make([]TierCount, len(counts)/4), At: time.UnixMilli(int64(redisUint(vals, 1))),
	}
	for i := range snap.Tiers {
		c := &snap.Tiers[i]
		for k, p := range []*int{&c.Free, &c.Held, &c.Sold, &c.Blocked} {
			s, _ := counts[4*i+k].(string)
			*p, _ = strconv.Atoi(s)
		}
	}
	return snap, nil
}

// Changes implements Store.
func (r *Redis) Changes(ctx context.Context, event, stand string, since uint64) ([]Change, uint64, bool, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return nil, 0, false, err
	}
	vals, err := r.run(ctx, changesScript, event, stand, strconv.FormatUint(since, 10))
	if err != nil {
		return nil, 0, false, redisStoreError("changes", err)
	}
	if len(vals) < 2 {
		return nil, 0, false, redisCodeError("changes", event, stand, vals)
	}
	version := redisUint(vals, 0)
	if ok, _ := vals[1].(int64); ok != 1 {
		return nil, version, false, nil
	}
	changes := make([]Change, 0, len(vals)-2)
	for _, x := range vals[2:] {
		s, _ := x.(string)
		c, err := redisParseChange(s)
		if err != nil {
			return nil, 0, false, err
		}
		changes = append(changes, c)
	}
	return changes, version, true, nil
}

// redisParseChange parses a log entry "version:seat:status".
func redisParseChange(s string) (Change, error) {
	vs, rest, ok1 := strings.Cut(s, ":")
	ss, st, ok2 := strings.Cut(rest, ":")
	v, err1 := strconv.ParseUint(vs, 10, 64)
	seat, err2 := strconv.Atoi(ss)
	status, err3 := strconv.Atoi(st)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || err3 != nil || status < 0 || status > 3 {
		return Change{}, fmt.Errorf("seating: redis: malformed change log entry %q", s)
	}
	return Change{Version: v, Seat: seat, Status: Status(status)}, nil
}

// Dump returns everything the store keeps of a stand, read in one script,
// for tests and operators checking invariants. It sweeps nothing.
func (r *Redis) Dump(ctx context.Context, event, stand string) (StandDump, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return StandDump{}, err
	}
	vals, err := r.run(ctx, dumpScript, event, stand)
	if err != nil {
		return StandDump{}, redisStoreError("dump", err)
	}
	if len(vals) != 8 {
		return StandDump{}, redisCodeError("dump", event, stand, vals)
	}
	status, _ := vals[2].(string)
	d := StandDump{
		Stand: stand, Version: redisUint(vals, 0), Status: []byte(status),
		Owners: map[int]string{}, HeldBy: map[string]int{}, At: time.UnixMilli(int64(redisUint(vals, 1))),
	}
	meta := redisMap(vals[3])
	tc, _ := strconv.Atoi(meta["tc"])
	nr, _ := strconv.Atoi(meta["nr"])
	d.Tiers = make([]TierCount, tc)
	for t := range d.Tiers {
		ts := strconv.Itoa(t)
		c := &d.Tiers[t]
		c.Free, _ = strconv.Atoi(meta["f"+ts])
		c.Held, _ = strconv.Atoi(meta["h"+ts])
		c.Sold, _ = strconv.Atoi(meta["s"+ts])
		c.Blocked, _ = strconv.Atoi(meta["b"+ts])
	}
	for id, rec := range redisMap(vals[4]) {
		h, err := redisParseRecord(id, stand, rec)
		if err != nil {
			return StandDump{}, err
		}
		d.Holds = append(d.Holds, h)
	}
	slices.SortFunc(d.Holds, func(a, b Hold) int { return strings.Compare(a.ID, b.ID) })
	for seat, id := range redisMap(vals[5]) {
		i, err := strconv.Atoi(seat)
		if err != nil {
			return StandDump{}, fmt.Errorf("seating: redis: malformed owners field %q", seat)
		}
		d.Owners[i] = id
	}
	for owner, n := range redisMap(vals[6]) {
		d.HeldBy[owner], _ = strconv.Atoi(n)
	}
	rf, _ := vals[7].(string)
	d.RowFree = make([]int, tc*nr)
	for i := range d.RowFree {
		if 4*i+4 <= len(rf) {
			d.RowFree[i] = int(binary.BigEndian.Uint32([]byte(rf[4*i:])))
		}
	}
	return d, nil
}

// redisParseRecord parses a hold record "state|created|expires|version|seats|key|owner".
func redisParseRecord(id, stand, rec string) (Hold, error) {
	f := strings.SplitN(rec, "|", 7)
	if len(f) != 7 || (f[0] != "a" && f[0] != "c") {
		return Hold{}, fmt.Errorf("seating: redis: malformed hold record %q", rec)
	}
	exp, err1 := strconv.ParseInt(f[2], 10, 64)
	v, err2 := strconv.ParseUint(f[3], 10, 64)
	h := Hold{ID: id, Stand: stand, Owner: f[6], State: HoldActive, ExpiresAt: time.UnixMilli(exp), Version: v}
	if f[0] == "c" {
		h.State = HoldConfirmed
	}
	for s := range strings.SplitSeq(f[4], ",") {
		i, err := strconv.Atoi(s)
		if err != nil {
			return Hold{}, fmt.Errorf("seating: redis: malformed hold record %q", rec)
		}
		h.Seats = append(h.Seats, i)
	}
	if err1 != nil || err2 != nil {
		return Hold{}, fmt.Errorf("seating: redis: malformed hold record %q", rec)
	}
	return h, nil
}

// redisMap turns a flat HGETALL reply into a map.
func redisMap(v any) map[string]string {
	vals, _ := v.([]any)
	m := make(map[string]string, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		k, _ := vals[i].(string)
		m[k], _ = vals[i+1].(string)
	}
	return m
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	return redisStoreError("ping", r.client.Ping(ctx).Err())
}

// Close closes the client.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("seating: closing redis client: %w", err)
	}
	return nil
}

// redisParseHold decodes the reply {'ok', id, state, expires, version, seats…}.
func redisParseHold(vals []any, stand, owner string) (Hold, error) {
	if len(vals) < 6 {
		return Hold{}, redisUnexpected("hold", vals)
	}
	id, _ := vals[1].(string)
	st, _ := vals[2].(string)
	exp, _ := vals[3].(int64)
	h := Hold{ID: id, Stand: stand, Owner: owner, State: HoldActive, ExpiresAt: time.UnixMilli(exp), Version: redisUint(vals, 4)}
	if st == "c" {
		h.State = HoldConfirmed
	}
	h.Seats = make([]int, 0, len(vals)-5)
	for _, x := range vals[5:] {
		s, _ := x.(int64)
		h.Seats = append(h.Seats, int(s))
	}
	return h, nil
}

// redisUint returns vals[i] as an unsigned integer, 0 when missing.
func redisUint(vals []any, i int) uint64 {
	if i >= len(vals) {
		return 0
	}
	n, _ := vals[i].(int64)
	return uint64(max(n, 0))
}

// redisCodeError turns a script's answer code into its error.
func redisCodeError(op, event, stand string, vals []any) error {
	switch code, _ := vals[0].(string); code {
	case "np":
		return fmt.Errorf("%w: event %s, stand %s", ErrNotPrepared, event, stand)
	case "nf":
		return ErrHoldNotFound
	case "no":
		return ErrNotOwner
	case "cd":
		return storeErrConfirmed
	case "ex":
		return ErrExpired
	}
	return redisUnexpected(op, vals)
}

func redisUnexpected(op string, v any) error {
	return fmt.Errorf("seating: redis %s: unexpected script reply %v", op, v)
}

// redisStoreError maps err to ErrUnavailable when Redis could not be reached or
// cannot serve now (network errors, timeouts, cancelled contexts, a closed
// client, a loading or read-only server, a cluster moving slots, a script
// running too long), keeping the cause in the chain. It mirrors the queue
// store's mapping.
func redisStoreError(op string, err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	if !errors.As(err, &reply) || redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMasterDownError(err) ||
		redis.IsMaxClientsError(err) || redis.IsOOMError(err) || redis.HasErrorPrefix(err, "BUSY") {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("seating: redis %s: %w", op, err)
}
