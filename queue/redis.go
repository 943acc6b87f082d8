package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a Redis store. The zero value is ready to use.
type RedisOptions struct {
	// Prefix starts every key. Default "foyer". Several deployments may
	// share one Redis under different prefixes. It should hold no braces:
	// a hash tag in the prefix would put every event in one Cluster slot.
	Prefix string
}

// Redis is a Store kept in Redis (single node, Sentinel or Cluster), for
// production and for more than one proxy.
//
// An event's keys share one hash tag, so every script touches one slot:
//
//	<prefix>:{ev:<event>}:line       epoch serving frac tail last_us
//	                                 prev_epoch carried rate paused sold_out
//	                                 max_active session_us claim_us pre_us
//	                                 abandoned
//	<prefix>:{ev:<event>}:visitors   visitor id → sequence number
//	<prefix>:{ev:<event>}:sessions   visitor id → session expiry (µs)
//	<prefix>:{ev:<event>}:pending    sequence number → claim deadline (µs)
//	<prefix>:{ev:<event>}:abandoned  sequence number → when abandoned (µs)
//	<prefix>:{ev:<event>}:members    member id → visitor id (pre-queue)
//	<prefix>:{ev:<event>}:late       visitor id → arrival after the start
//	<prefix>:{ev:<event>}:draw       the published draw (JSON)
//	<prefix>:{ev:<event>}:drawseed   the draw's secret seed
//	<prefix>:{ev:<event>}:lead:<role> the holder leading role
//	<prefix>:{ev:<event>}:journal    the journal (a list, newest first)
//
// Every step is one Lua script, one round trip
// (EVALSHA, falling back to EVAL once after a script cache flush), timed by
// Redis's TIME so proxies with skewed clocks agree. Redis replicates a
// script's effects, not the script (the default since Redis 5), so reading
// TIME before writing is safe.
// Lua numbers are doubles: sequence numbers and epochs must stay below 2⁵³,
// which µs timestamps and any real line do.
//
// Redis is safe for concurrent use by many goroutines and many processes.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store using client, which it owns from then on: Close
// closes it. Give the client timeouts that suit the proxy's store timeout;
// the context of each call bounds it too.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "foyer"
	}
	return &Redis{client: client, prefix: opts.Prefix}
}

// Keys returns the keys of event's line, which share one hash tag: the line
// hash, the visitors hash, the sessions, pending turns and abandoned turns
// (sorted sets), the pre-queue members (hash) and late arrivals (sorted
// set), and the published draw. Tests and operators use it; callers of the
// store never need to.
func (r *Redis) Keys(event string) []string {
	base := r.prefix + ":{ev:" + event + "}:"
	return []string{base + "line", base + "visitors", base + "sessions", base + "pending",
		base + "abandoned", base + "members", base + "late", base + "draw"}
}

// Reply codes of the scripts, the last element of a reply.
const (
	codeOK = iota
	codeSoldOut
	codeTurnOver
	codeNotTurn
	codeNotStarted
	codeDrawMismatch
	codeInvalidLane
	codeControlChanged
)

var replyErrors = [...]error{codeSoldOut: ErrSoldOut, codeTurnOver: ErrTurnOver, codeNotTurn: ErrNotTurn,
	codeNotStarted: ErrNotStarted, codeDrawMismatch: ErrDrawMismatch, codeInvalidLane: ErrInvalidLanes,
	codeControlChanged: ErrControlChanged}

// linePrelude is shared by the scripts. KEYS are those of Keys. ARGV[1..21]
// is the seed (see seedArgs); a script's own arguments start at ARGV[22].
// It loads the line into L, creating it from the seed when missing or
// raising it to the seed's counters of the same epoch (and then saving it
// whole), and defines sweep, settle and reply, which mirror memoryLine.sweep,
// memoryLine.settle and line.state: change one, change both.
const linePrelude = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local X = 21
local f = redis.call('HMGET', KEYS[1], 'epoch', 'serving', 'frac', 'tail', 'last_us', 'prev_epoch', 'carried', 'rate', 'paused',
  'sold_out', 'max_active', 'session_us', 'claim_us', 'pre_us', 'abandoned', 'lw', 'll')
local L
local saveAll = false
if f[1] then
  L = {epoch = tonumber(f[1]), serving = tonumber(f[2]), frac = tonumber(f[3]), tail = tonumber(f[4]),
       last_us = tonumber(f[5]), prev_epoch = tonumber(f[6]), carried = tonumber(f[7]),
       rate = tonumber(f[8]), paused = tonumber(f[9]), sold_out = tonumber(f[10] or 0),
       max_active = tonumber(f[11] or 0), session_us = tonumber(f[12] or 0), claim_us = tonumber(f[13] or 0),
       pre_us = tonumber(f[14] or 0), abandoned = tonumber(f[15] or 0), lw = f[16] or '', ll = f[17] or ''}
  -- line.floor: a failover to a lagging replica may have rolled the line
  -- back; what the caller saw of this epoch is a floor.
  if L.epoch == tonumber(ARGV[1]) then
    local tl = tonumber(ARGV[3])
    if tl > L.tail then L.tail = tl; saveAll = true end
    local sv = math.min(tonumber(ARGV[2]), L.tail)
    if sv > L.serving then L.serving = sv; saveAll = true end
  end
else
  local last = tonumber(ARGV[1])
  L = {epoch = now, serving = 0, frac = 0, tail = 0, last_us = now, prev_epoch = 0, carried = 0,
       rate = tonumber(ARGV[6]), paused = tonumber(ARGV[7]), sold_out = tonumber(ARGV[13]),
       max_active = tonumber(ARGV[14]), session_us = tonumber(ARGV[15]), claim_us = tonumber(ARGV[16]),
       pre_us = 0, abandoned = 0, lw = '', ll = ''}
  if L.epoch <= last then L.epoch = last + 1 end
  if last ~= 0 then
    L.serving = tonumber(ARGV[2])
    L.tail = math.max(tonumber(ARGV[3]), L.serving)
    L.prev_epoch = last
    L.carried = L.tail
    L.rate = tonumber(ARGV[4])
    L.paused = tonumber(ARGV[5])
    L.sold_out = tonumber(ARGV[8])
    L.max_active = tonumber(ARGV[9])
    L.session_us = tonumber(ARGV[10])
    L.claim_us = tonumber(ARGV[11])
  end
  if tonumber(ARGV[17]) ~= 0 and (last == 0 or tonumber(ARGV[12]) ~= 0) then
    L.pre_us = tonumber(ARGV[17])
  end
  if last ~= 0 and ARGV[19] ~= '' then
    L.lw, L.ll = ARGV[19], ARGV[20]
  elseif last == 0 and L.pre_us == 0 and ARGV[18] ~= '' then
    L.lw = ARGV[18]
    L.ll = string.gsub(ARGV[18], '%d+', '0')
  end
  -- What is left of a lost line belongs to no epoch.
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
  saveAll = true
end

local function save()
  redis.call('HSET', KEYS[1], 'epoch', L.epoch, 'serving', L.serving, 'frac', L.frac, 'tail', L.tail,
    'last_us', L.last_us, 'prev_epoch', L.prev_epoch, 'carried', L.carried, 'rate', L.rate, 'paused', L.paused,
    'sold_out', L.sold_out, 'max_active', L.max_active, 'session_us', L.session_us, 'claim_us', L.claim_us,
    'pre_us', L.pre_us, 'abandoned', L.abandoned, 'lw', L.lw, 'll', L.ll)
end
if saveAll then save() end

-- Lanes (lanes.go): LW the reduced weights, LL the last number of each
-- lane, LP the dealing pattern of one block, by smooth weighted round-robin.
local LW, LL, LP
if L.lw ~= '' then
  LW, LL = {}, {}
  for x in string.gmatch(L.lw, '%d+') do LW[#LW + 1] = tonumber(x) end
  for x in string.gmatch(L.ll, '%d+') do LL[#LL + 1] = tonumber(x) end
  local b = 0
  for _, w in ipairs(LW) do b = b + w end
  local credit, lane, count, prefix, offsets = {}, {}, {}, {}, {}
  for i = 1, #LW do credit[i] = 0; count[i] = 0; prefix[i] = {[0] = 0}; offsets[i] = {} end
  for pos = 0, b - 1 do
    local best = 1
    for i = 1, #LW do
      credit[i] = credit[i] + LW[i]
      if credit[i] > credit[best] then best = i end
    end
    credit[best] = credit[best] - b
    lane[pos] = best
    offsets[best][count[best]] = pos
    count[best] = count[best] + 1
    for i = 1, #LW do
      prefix[i][pos + 1] = prefix[i][pos] + ((i == best) and 1 or 0)
    end
  end
  LP = {b = b, lane = lane, count = count, prefix = prefix, offsets = offsets}
end
local function cnt(i, n)
  return math.floor(n / LP.b) * LP.count[i] + LP.prefix[i][n % LP.b]
end
local function filled(a, b)
  local n = 0
  for i = 1, #LW do
    local top = math.min(b, LL[i])
    if top > a then n = n + cnt(i, top) - cnt(i, a) end
  end
  return n
end
local function saveLanes()
  local parts = {}
  for i = 1, #LL do parts[i] = string.format('%d', LL[i]) end
  L.ll = table.concat(parts, ',')
  redis.call('HSET', KEYS[1], 'll', L.ll)
end

local function sweep()
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
  if #gone > 0 then
    for _, s in ipairs(gone) do redis.call('ZADD', KEYS[5], now, s) end
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
    L.abandoned = L.abandoned + #gone
    redis.call('HSET', KEYS[1], 'abandoned', L.abandoned)
    -- A turn abandoned a day ago is not coming back for it.
    redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 86400000000)
  end
end

local function settle()
  sweep()
  local budget = -1
  if L.max_active > 0 then
    budget = math.max(L.max_active - redis.call('ZCARD', KEYS[3]) - redis.call('ZCARD', KEYS[4]), 0)
  end
  local from = L.serving
  local el = now - L.last_us
  if el > 0 then
    if L.pre_us == 0 and L.paused == 0 and L.sold_out == 0 and L.rate > 0 and L.tail > L.serving then
      local acc = L.frac + L.rate * el / 1e6
      local n = math.floor(acc + 1e-9)
      local waiting = L.tail - L.serving
      if LW then waiting = filled(L.serving, L.tail) end
      local grant
      if budget >= 0 and budget < waiting and n >= budget then
        grant = budget
        L.frac = 0
      elseif n >= waiting then
        grant = waiting
      else
        grant = n
        L.frac = math.max(acc - n, 0)
      end
      if grant == waiting then
        L.serving = L.tail
      elseif grant > 0 and LW then
        -- the smallest s with grant numbers issued in (serving, s]
        local lo, hi = L.serving + 1, L.tail
        while lo < hi do
          local mid = math.floor((lo + hi) / 2)
          if filled(L.serving, mid) >= grant then hi = mid else lo = mid + 1 end
        end
        L.serving = lo
      else
        L.serving = L.serving + grant
      end
    end
    L.last_us = now
  end
  if L.serving >= L.tail then L.frac = 0 end
  if L.max_active > 0 and L.serving > from then
    local claim = L.claim_us
    if claim <= 0 then claim = 60000000 end
    for s = from + 1, L.serving do
      -- Numbers of a lane above its last were never issued.
      if not LW or s <= LL[LP.lane[(s - 1) % LP.b]] then
        redis.call('ZADD', KEYS[4], now + claim, s)
      end
    end
  end
end

-- Integers go back as integer replies; the rate as text, since Redis would
-- truncate a Lua number.
local function reply(seq, existing, pre, code)
  return {seq, existing, L.epoch, L.serving, L.tail, L.prev_epoch, L.carried,
    string.format('%.17g', L.rate), L.paused, now, L.sold_out, L.max_active, L.session_us, L.claim_us,
    redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), L.abandoned,
    L.pre_us ~= 0 and 1 or 0, redis.call('HLEN', KEYS[6]), redis.call('ZCARD', KEYS[7]), pre, code, L.lw, L.ll}
end
`

// joinScript: ARGV[X+1] is the visitor, ARGV[X+2] its member id. A visitor
// already in the visitors hash keeps their number; before the draw a
// newcomer joins the pre-queue (before the start) or the late arrivals;
// after it, a newcomer takes tail+1, after an empty line is settled so the
// time it stood empty admits nobody.
var joinScript = redis.NewScript(linePrelude + `
local v = ARGV[X+1]
local seq = redis.call('HGET', KEYS[2], v)
if seq then
  return reply(tonumber(seq), 1, 0, 0)
end
if L.pre_us ~= 0 then
  if redis.call('HEXISTS', KEYS[6], ARGV[X+2]) == 1 or redis.call('ZSCORE', KEYS[7], v) then
    return reply(0, 1, 1, 0)
  end
  if L.sold_out ~= 0 then return reply(0, 0, 0, 1) end
  if now < L.pre_us then
    redis.call('HSET', KEYS[6], ARGV[X+2], v)
  else
    redis.call('ZADD', KEYS[7], redis.call('ZCARD', KEYS[7]) + 1, v)
  end
  return reply(0, 0, 1, 0)
end
if L.sold_out ~= 0 then return reply(0, 0, 0, 1) end
local lane = tonumber(ARGV[21])
if (not LW and lane ~= 0) or (LW and lane >= #LW) then return reply(0, 0, 0, 6) end
local empty = L.serving >= L.tail
if empty then settle() end
local seq
if LW then
  local i = lane + 1
  local k = cnt(i, math.max(LL[i], L.serving)) + 1
  local c = LP.count[i]
  seq = math.floor((k - 1) / c) * LP.b + LP.offsets[i][(k - 1) % c] + 1
  LL[i] = seq
  saveLanes()
  L.tail = math.max(L.tail, seq)
else
  L.tail = L.tail + 1
  seq = L.tail
end
redis.call('HSET', KEYS[2], v, seq)
if empty then
  save()
else
  redis.call('HSET', KEYS[1], 'tail', L.tail)
end
return reply(seq, 0, 0, 0)
`)

// advanceScript settles the line.
var advanceScript = redis.NewScript(linePrelude + `
settle()
redis.call('HSET', KEYS[1], 'serving', L.serving, 'frac', L.frac, 'last_us', L.last_us)
return reply(0, 0, 0, 0)
`)

// setControlScript: ARGV[X+1..X+6] are the new rate, paused, sold out, max
// active, session and claim window (µs). It settles the time before the
// change at the old control. With ARGV[X+7..X+12], the control expected in
// force, it changes nothing unless that is the control (SwapControl).
var setControlScript = redis.NewScript(linePrelude + `
if ARGV[X+7] then
  if L.rate ~= tonumber(ARGV[X+7]) or L.paused ~= tonumber(ARGV[X+8]) or L.sold_out ~= tonumber(ARGV[X+9]) or
     L.max_active ~= tonumber(ARGV[X+10]) or L.session_us ~= tonumber(ARGV[X+11]) or L.claim_us ~= tonumber(ARGV[X+12]) then
    return reply(0, 0, 0, 7)
  end
end
settle()
L.rate = tonumber(ARGV[X+1])
L.paused = tonumber(ARGV[X+2])
L.sold_out = tonumber(ARGV[X+3])
L.max_active = tonumber(ARGV[X+4])
L.session_us = tonumber(ARGV[X+5])
L.claim_us = tonumber(ARGV[X+6])
save()
return reply(0, 0, 0, 0)
`)

// claimScript: ARGV[X+1..X+3] are the ticket's visitor, sequence number and
// epoch. It mirrors Memory.Claim.
var claimScript = redis.NewScript(linePrelude + `
sweep()
local v, tseq, tepoch = ARGV[X+1], tonumber(ARGV[X+2]), tonumber(ARGV[X+3])
local ttl = L.session_us
if ttl <= 0 then ttl = 60000000 end
if redis.call('ZSCORE', KEYS[3], v) then
  redis.call('ZADD', KEYS[3], now + ttl, v)
  return reply(0, 0, 0, 0)
end
if L.sold_out ~= 0 then return reply(0, 0, 0, 1) end
if L.pre_us ~= 0 or tseq == 0 then return reply(0, 0, 0, 3) end
if not (tepoch >= L.epoch or (L.prev_epoch ~= 0 and tepoch == L.prev_epoch and tseq <= L.carried)) then
  return reply(0, 0, 0, 2)
end
if tseq > L.serving then return reply(0, 0, 0, 3) end
if tepoch == L.epoch and tonumber(redis.call('HGET', KEYS[2], v) or -1) ~= tseq then
  return reply(0, 0, 0, 2)
end
if redis.call('ZREM', KEYS[4], tseq) == 0 and redis.call('ZSCORE', KEYS[5], tseq) then
  redis.call('HDEL', KEYS[2], v)
  return reply(0, 0, 0, 2)
end
redis.call('ZADD', KEYS[3], now + ttl, v)
return reply(0, 0, 0, 0)
`)

// endSessionScript: ARGV[X+1] is the visitor.
var endSessionScript = redis.NewScript(linePrelude + `
redis.call('ZREM', KEYS[3], ARGV[X+1])
redis.call('HDEL', KEYS[2], ARGV[X+1])
sweep()
return reply(0, 0, 0, 0)
`)

// prequeueScript returns the reply and, after the start, the members.
var prequeueScript = redis.NewScript(linePrelude + `
if L.pre_us == 0 then return {reply(0, 0, 0, 0), {}} end
if now < L.pre_us then return {reply(0, 0, 0, 4), {}} end
return {reply(0, 0, 0, 0), redis.call('HKEYS', KEYS[6])}
`)

// applyDrawScript: ARGV[X+1] is the published draw, ARGV[X+2..] the order
// of member ids. Everything is checked before anything is written.
var applyDrawScript = redis.NewScript(linePrelude + `
if L.pre_us == 0 then return reply(0, 0, 0, 0) end
if now < L.pre_us then return reply(0, 0, 0, 4) end
if #ARGV - (X + 1) ~= redis.call('HLEN', KEYS[6]) then return reply(0, 0, 0, 5) end
local vis, seen = {}, {}
for i = X + 2, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HGET', KEYS[6], id)
  if not v or seen[id] then return reply(0, 0, 0, 5) end
  seen[id] = true
  vis[#vis + 1] = v
end
for _, v in ipairs(vis) do
  L.tail = L.tail + 1
  redis.call('HSET', KEYS[2], v, L.tail)
end
for _, v in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
  L.tail = L.tail + 1
  redis.call('HSET', KEYS[2], v, L.tail)
end
redis.call('DEL', KEYS[6], KEYS[7])
L.pre_us = 0
L.last_us = now
L.frac = 0
save()
redis.call('SET', KEYS[8], ARGV[X + 1])
return reply(0, 0, 0, 0)
`)

// drawSeedScript keeps the first seed stored.
var drawSeedScript = redis.NewScript(`
local s = redis.call('GET', KEYS[1])
if s then return s end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// recordScript appends to a journal and trims it.
var recordScript = redis.NewScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`)

// leadScript takes or extends a lead.
var leadScript = redis.NewScript(`
local h = redis.call('GET', KEYS[1])
if h == false or h == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// Join implements Store.
func (r *Redis) Join(ctx context.Context, event, visitor string, seed Seed) (Entry, error) {
	if err := validCall(event, seed); err != nil {
		return Entry{}, err
	}
	if !ValidVisitor(visitor) {
		return Entry{}, ErrInvalidVisitor
	}
	v, err := r.run(ctx, joinScript, event, seed, visitor, MemberID(visitor))
	if err != nil {
		return Entry{}, redisError("join", err)
	}
	rp, err := parseReply(v)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Seq: rp.seq, Existing: rp.existing, Pre: rp.pre, State: rp.state}, rp.err
}

// Advance implements Store.
func (r *Redis) Advance(ctx context.Context, event string, seed Seed) (State, error) {
	return r.step(ctx, advanceScript, "advance", event, seed)
}

// SetControl implements Store.
func (r *Redis) SetControl(ctx context.Context, event string, c Control, seed Seed) (State, error) {
	if err := validControl(c); err != nil {
		return State{}, err
	}
	return r.step(ctx, setControlScript, "set control", event, seed, controlArgs(c)...)
}

// SwapControl implements Store.
func (r *Redis) SwapControl(ctx context.Context, event string, old, c Control, seed Seed) (State, error) {
	if err := validControl(c); err != nil {
		return State{}, err
	}
	return r.step(ctx, setControlScript, "swap control", event, seed, append(controlArgs(c), controlArgs(old)...)...)
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, event string, t Ticket, seed Seed) (State, error) {
	if !ValidVisitor(t.Visitor) {
		return State{}, ErrInvalidVisitor
	}
	return r.step(ctx, claimScript, "claim", event, seed, t.Visitor, t.Seq, t.Epoch)
}

// EndSession implements Store.
func (r *Redis) EndSession(ctx context.Context, event, visitor string, seed Seed) (State, error) {
	if !ValidVisitor(visitor) {
		return State{}, ErrInvalidVisitor
	}
	return r.step(ctx, endSessionScript, "end session", event, seed, visitor)
}

// Prequeue implements Store.
func (r *Redis) Prequeue(ctx context.Context, event string, seed Seed) ([]string, State, error) {
	if err := validCall(event, seed); err != nil {
		return nil, State{}, err
	}
	v, err := r.run(ctx, prequeueScript, event, seed)
	if err != nil {
		return nil, State{}, redisError("prequeue", err)
	}
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil, State{}, fmt.Errorf("queue: redis: unexpected script reply %v", v)
	}
	rp, err := parseReply(pair[0])
	if err != nil || rp.err != nil {
		return nil, State{}, cmp.Or(err, rp.err)
	}
	raw, _ := pair[1].([]any)
	members := make([]string, 0, len(raw))
	for _, m := range raw {
		s, ok := m.(string)
		if !ok {
			return nil, State{}, fmt.Errorf("queue: redis: unexpected member %v", m)
		}
		members = append(members, s)
	}
	return members, rp.state, nil
}

// ApplyDraw implements Store.
func (r *Redis) ApplyDraw(ctx context.Context, event string, order []string, doc []byte, seed Seed) (State, error) {
	extra := make([]any, 0, len(order)+1)
	extra = append(extra, doc)
	for _, id := range order {
		extra = append(extra, id)
	}
	return r.step(ctx, applyDrawScript, "apply draw", event, seed, extra...)
}

// DrawDocument implements Store.
func (r *Redis) DrawDocument(ctx context.Context, event string) ([]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	b, err := r.client.Get(ctx, r.Keys(event)[7]).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoDraw
	}
	return b, redisError("draw document", err)
}

// DrawSeed implements Store.
func (r *Redis) DrawSeed(ctx context.Context, event string, candidate []byte) ([]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	if len(candidate) != DrawSeedSize {
		return nil, ErrDrawMalformed
	}
	key := r.prefix + ":{ev:" + event + "}:drawseed"
	v, err := drawSeedScript.Run(ctx, r.client, []string{key}, candidate).Text()
	if err != nil {
		return nil, redisError("draw seed", err)
	}
	if len(v) != DrawSeedSize {
		return nil, fmt.Errorf("queue: redis: stored draw seed is %d bytes, want %d", len(v), DrawSeedSize)
	}
	return []byte(v), nil
}

// Record implements Store.
func (r *Redis) Record(ctx context.Context, event string, entry []byte, max int) error {
	if err := validRecord(event, entry, max); err != nil {
		return err
	}
	key := r.prefix + ":{ev:" + event + "}:journal"
	return redisError("record", recordScript.Run(ctx, r.client, []string{key}, entry, max).Err())
}

// Journal implements Store.
func (r *Redis) Journal(ctx context.Context, event string, n int) ([][]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	if n < 1 {
		return nil, nil
	}
	key := r.prefix + ":{ev:" + event + "}:journal"
	vals, err := r.client.LRange(ctx, key, 0, int64(n-1)).Result()
	if err != nil {
		return nil, redisError("journal", err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// Lead implements Store.
func (r *Redis) Lead(ctx context.Context, event, role, holder string, ttl time.Duration) (bool, error) {
	if err := validLead(event, role, holder, ttl); err != nil {
		return false, err
	}
	key := r.prefix + ":{ev:" + event + "}:lead:" + role
	n, err := leadScript.Run(ctx, r.client, []string{key}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, redisError("lead", err)
	}
	return n == 1, nil
}

// step runs a script that answers with the line's state.
func (r *Redis) step(ctx context.Context, s *redis.Script, op, event string, seed Seed, extra ...any) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	v, err := r.run(ctx, s, event, seed, extra...)
	if err != nil {
		return State{}, redisError(op, err)
	}
	rp, err := parseReply(v)
	if err != nil {
		return State{}, err
	}
	return rp.state, rp.err
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	return redisError("ping", r.client.Ping(ctx).Err())
}

// Close closes the client.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("queue: closing redis client: %w", err)
	}
	return nil
}

func (r *Redis) run(ctx context.Context, s *redis.Script, event string, seed Seed, extra ...any) (any, error) {
	args := make([]any, 0, 21+len(extra))
	args = append(args, seedArgs(seed)...)
	args = append(args, extra...)
	return s.Run(ctx, r.client, r.Keys(event), args...).Result()
}

// seedArgs are ARGV[1..21] of the line scripts: the last state's epoch,
// serving, tail, rate, paused, the control for a line never seen (rate,
// paused), the last control's sold out, max active, session and claim
// window, whether the last state awaited its draw, the control for a line
// never seen (sold out, max active, session, claim window), the sale start
// (µs, 0 for none), the lane weights for a line never seen (reduced,
// comma-separated, "" for none), the last state's lane weights and last
// numbers, and the lane to join.
func seedArgs(seed Seed) []any {
	last, c := seed.Last, seed.Control
	var start int64
	if !seed.PrequeueClosesAt.IsZero() {
		start = max(seed.PrequeueClosesAt.UnixMicro(), 1)
	}
	var seedLanes, lastW, lastL string
	if w, err := ReduceLaneWeights(seed.Lanes); err == nil {
		seedLanes = encodeLaneInts(w) // validCall has rejected bad weights
	}
	if l := last.Lanes; l != nil {
		lastW, lastL = encodeLaneInts(l.Weights), encodeLaneInts(l.Last)
	}
	return []any{last.Epoch, last.Serving, last.Tail,
		last.Control.RatePerSecond, boolArg(last.Control.Paused),
		c.RatePerSecond, boolArg(c.Paused),
		boolArg(last.Control.SoldOut), last.Control.MaxActive, last.Control.SessionTTL.Microseconds(),
		last.Control.ClaimWindow.Microseconds(), boolArg(last.Prequeue),
		boolArg(c.SoldOut), c.MaxActive, c.SessionTTL.Microseconds(), c.ClaimWindow.Microseconds(),
		start, seedLanes, lastW, lastL, seed.Lane}
}

// controlArgs are the arguments of setControlScript.
func controlArgs(c Control) []any {
	return []any{c.RatePerSecond, boolArg(c.Paused), boolArg(c.SoldOut), c.MaxActive,
		c.SessionTTL.Microseconds(), c.ClaimWindow.Microseconds()}
}

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scriptReply is a decoded reply of linePrelude's reply function.
type scriptReply struct {
	seq           uint64
	existing, pre bool
	state         State
	err           error // the error of the reply code, if any
}

// replyLen is the length of a reply of linePrelude's reply function.
const replyLen = 24

// parseReply decodes the reply of linePrelude's reply function.
func parseReply(v any) (scriptReply, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != replyLen {
		return scriptReply{}, fmt.Errorf("queue: redis: unexpected script reply %v", v)
	}
	var n [replyLen]int64
	for i, x := range vals {
		if i == 7 || i >= 22 {
			continue
		}
		if n[i], ok = x.(int64); !ok || n[i] < 0 {
			return scriptReply{}, fmt.Errorf("queue: redis: unexpected script reply %v", v)
		}
	}
	rs, _ := vals[7].(string)
	rate, perr := strconv.ParseFloat(rs, 64)
	if perr != nil {
		return scriptReply{}, fmt.Errorf("queue: redis: unexpected rate %q in script reply", rs)
	}
	rp := scriptReply{
		seq: uint64(n[0]), existing: n[1] != 0, pre: n[20] != 0,
		state: State{
			Epoch:     uint64(n[2]),
			Serving:   uint64(n[3]),
			Tail:      uint64(n[4]),
			PrevEpoch: uint64(n[5]),
			Carried:   uint64(n[6]),
			Control: Control{RatePerSecond: rate, Paused: n[8] != 0, SoldOut: n[10] != 0,
				MaxActive: int(n[11]), SessionTTL: time.Duration(n[12]) * time.Microsecond,
				ClaimWindow: time.Duration(n[13]) * time.Microsecond},
			Active:    uint64(n[14]),
			Pending:   uint64(n[15]),
			Abandoned: uint64(n[16]),
			Prequeue:  n[17] != 0,
			Members:   uint64(n[18]),
			Late:      uint64(n[19]),
			At:        time.UnixMicro(n[9]),
		},
	}
	if lw, _ := vals[22].(string); lw != "" {
		ll, _ := vals[23].(string)
		w, err1 := decodeLaneInts(lw)
		last, err2 := decodeLaneInts(ll)
		if err1 != nil || err2 != nil || len(w) != len(last) || len(w) < 2 {
			return scriptReply{}, fmt.Errorf("queue: redis: unexpected lanes %q %q in script reply", lw, ll)
		}
		weights := make([]int, len(w))
		for i, x := range w {
			weights[i] = int(x)
		}
		if _, err := ReduceLaneWeights(weights); err != nil {
			return scriptReply{}, fmt.Errorf("queue: redis: unexpected lanes %q in script reply", lw)
		}
		rp.state.Lanes = newLanes(weights, last)
	}
	if code := n[21]; code != codeOK {
		if code >= int64(len(replyErrors)) || replyErrors[code] == nil {
			return scriptReply{}, fmt.Errorf("queue: redis: unexpected reply code %d", code)
		}
		rp.err = replyErrors[code]
	}
	return rp, nil
}

// redisError maps err to ErrUnavailable when Redis could not be reached or
// cannot serve now (network errors, timeouts, cancelled contexts, a closed
// client, a loading or read-only server, a cluster moving slots), keeping
// the cause in the chain.
func redisError(op string, err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	if !errors.As(err, &reply) || redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMasterDownError(err) ||
		redis.IsMaxClientsError(err) || redis.IsOOMError(err) || redis.HasErrorPrefix(err, "BUSY") {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("queue: redis %s: %w", op, err)
}
