package queue

import (
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
// An event's line is two hashes sharing one hash tag, so every script touches
// one slot:
//
//	<prefix>:{ev:<event>}:line      epoch serving frac tail last_us
//	                                prev_epoch carried rate paused
//	<prefix>:{ev:<event>}:visitors  visitor id → sequence number
//
// Join, Advance and SetControl are each one Lua script, one round trip
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

// Keys returns the keys of event's line: the line hash and the visitors
// hash. They share one hash tag. Tests and operators use it; callers of the
// Store need not.
func (r *Redis) Keys(event string) []string {
	base := r.prefix + ":{ev:" + event + "}:"
	return []string{base + "line", base + "visitors"}
}

// linePrelude is shared by the scripts. KEYS[1] is the line hash, KEYS[2]
// the visitors hash; ARGV[1..7] is the seed: last epoch, serving, tail,
// rate, paused (1 or 0), then the control for a line never seen: rate,
// paused. It loads the line into L, creating it from the seed when missing
// or raising it to the seed's counters of the same epoch (saveAll then means
// "save it whole"), and defines settle and reply, which mirror line.settle and line.state in
// line.go: change one, change both.
const linePrelude = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local f = redis.call('HMGET', KEYS[1], 'epoch', 'serving', 'frac', 'tail', 'last_us', 'prev_epoch', 'carried', 'rate', 'paused')
local L
local saveAll = false
if f[1] then
  L = {epoch = tonumber(f[1]), serving = tonumber(f[2]), frac = tonumber(f[3]), tail = tonumber(f[4]),
       last_us = tonumber(f[5]), prev_epoch = tonumber(f[6]), carried = tonumber(f[7]),
       rate = tonumber(f[8]), paused = tonumber(f[9])}
  -- line.floor: a failover to a lagging replica may have rolled the line
  -- back; what the caller saw of this epoch is a floor. Saved in full below.
  if L.epoch == tonumber(ARGV[1]) then
    local tl = tonumber(ARGV[3])
    if tl > L.tail then L.tail = tl; saveAll = true end
    local sv = math.min(tonumber(ARGV[2]), L.tail)
    if sv > L.serving then L.serving = sv; saveAll = true end
  end
else
  local last = tonumber(ARGV[1])
  L = {epoch = now, serving = 0, frac = 0, tail = 0, last_us = now, prev_epoch = 0, carried = 0,
       rate = tonumber(ARGV[6]), paused = tonumber(ARGV[7])}
  if L.epoch <= last then L.epoch = last + 1 end
  if last ~= 0 then
    L.serving = tonumber(ARGV[2])
    L.tail = math.max(tonumber(ARGV[3]), L.serving)
    L.prev_epoch = last
    L.carried = L.tail
    L.rate = tonumber(ARGV[4])
    L.paused = tonumber(ARGV[5])
  end
  -- Visitors left from a lost line hold places of no epoch.
  redis.call('DEL', KEYS[2])
  saveAll = true
end

local function settle()
  local el = now - L.last_us
  if el > 0 then
    if L.paused == 0 and L.rate > 0 then
      local acc = L.frac + L.rate * el / 1e6
      local n = math.floor(acc + 1e-9)
      if n >= L.tail - L.serving then
        L.serving = L.tail
      else
        L.serving = L.serving + n
        L.frac = math.max(acc - n, 0)
      end
    end
    L.last_us = now
  end
  if L.serving >= L.tail then L.frac = 0 end
end

local function save()
  redis.call('HSET', KEYS[1], 'epoch', L.epoch, 'serving', L.serving, 'frac', L.frac, 'tail', L.tail,
    'last_us', L.last_us, 'prev_epoch', L.prev_epoch, 'carried', L.carried, 'rate', L.rate, 'paused', L.paused)
end

-- Integers go back as integer replies; the rate as text, since Redis would
-- truncate a Lua number.
local function reply(seq, existing)
  return {seq, existing, L.epoch, L.serving, L.tail, L.prev_epoch, L.carried,
    string.format('%.17g', L.rate), L.paused, now}
end
`

// joinScript: ARGV[8] is the visitor. A visitor already in the visitors
// hash keeps their number; a newcomer takes tail+1, after an empty line is
// settled so the time it stood empty admits nobody.
var joinScript = redis.NewScript(linePrelude + `
local seq = redis.call('HGET', KEYS[2], ARGV[8])
if seq then
  return reply(tonumber(seq), 1)
end
local empty = L.serving >= L.tail
if empty then settle() end
L.tail = L.tail + 1
redis.call('HSET', KEYS[2], ARGV[8], L.tail)
if saveAll or empty then
  save()
else
  redis.call('HSET', KEYS[1], 'tail', L.tail)
end
return reply(L.tail, 0)
`)

// advanceScript settles the line.
var advanceScript = redis.NewScript(linePrelude + `
settle()
if saveAll then
  save()
else
  redis.call('HSET', KEYS[1], 'serving', L.serving, 'frac', L.frac, 'last_us', L.last_us)
end
return reply(0, 0)
`)

// setControlScript: ARGV[8] and ARGV[9] are the new rate and paused. It
// settles the time before the change at the old control.
var setControlScript = redis.NewScript(linePrelude + `
settle()
L.rate = tonumber(ARGV[8])
L.paused = tonumber(ARGV[9])
save()
return reply(0, 0)
`)

// Join implements Store.
func (r *Redis) Join(ctx context.Context, event, visitor string, seed Seed) (Entry, error) {
	if err := validCall(event, seed); err != nil {
		return Entry{}, err
	}
	if !ValidVisitor(visitor) {
		return Entry{}, ErrInvalidVisitor
	}
	v, err := r.run(ctx, joinScript, event, seed, visitor)
	if err != nil {
		return Entry{}, redisError("join", err)
	}
	seq, existing, st, err := parseReply(v)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Seq: seq, Existing: existing, State: st}, nil
}

// Advance implements Store.
func (r *Redis) Advance(ctx context.Context, event string, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	v, err := r.run(ctx, advanceScript, event, seed)
	if err != nil {
		return State{}, redisError("advance", err)
	}
	_, _, st, err := parseReply(v)
	return st, err
}

// SetControl implements Store.
func (r *Redis) SetControl(ctx context.Context, event string, c Control, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	if err := validControl(c); err != nil {
		return State{}, err
	}
	v, err := r.run(ctx, setControlScript, event, seed, c.RatePerSecond, boolArg(c.Paused))
	if err != nil {
		return State{}, redisError("set control", err)
	}
	_, _, st, err := parseReply(v)
	return st, err
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
	last := seed.Last
	args := make([]any, 0, 7+len(extra))
	args = append(args, last.Epoch, last.Serving, last.Tail,
		last.Control.RatePerSecond, boolArg(last.Control.Paused),
		seed.Control.RatePerSecond, boolArg(seed.Control.Paused))
	args = append(args, extra...)
	return s.Run(ctx, r.client, r.Keys(event), args...).Result()
}

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseReply decodes the reply of linePrelude's reply function.
func parseReply(v any) (seq uint64, existing bool, st State, err error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != 10 {
		return 0, false, State{}, fmt.Errorf("queue: redis: unexpected script reply %v", v)
	}
	var n [10]int64
	for i, x := range vals {
		if i == 7 {
			continue
		}
		if n[i], ok = x.(int64); !ok || n[i] < 0 {
			return 0, false, State{}, fmt.Errorf("queue: redis: unexpected script reply %v", v)
		}
	}
	rs, _ := vals[7].(string)
	rate, perr := strconv.ParseFloat(rs, 64)
	if perr != nil {
		return 0, false, State{}, fmt.Errorf("queue: redis: unexpected rate %q in script reply", rs)
	}
	st = State{
		Epoch:     uint64(n[2]),
		Serving:   uint64(n[3]),
		Tail:      uint64(n[4]),
		PrevEpoch: uint64(n[5]),
		Carried:   uint64(n[6]),
		Control:   Control{RatePerSecond: rate, Paused: n[8] != 0},
		At:        time.UnixMicro(n[9]),
	}
	return uint64(n[0]), n[1] != 0, st, nil
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
