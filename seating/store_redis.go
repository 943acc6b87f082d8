package seating

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
//	<prefix>:{ev:<event>:st:<stand>}:meta
//	           hash: v (version), n (seats), tc (tiers), nr (rows)
//	…:status   string: 2 bits a seat (BITFIELD u2 #i), StandSnapshot.Status
//	…:holds    hash: hold id → "state|created_ms|expires_ms|version|seats|key|owner",
//	           state a (active) or c (confirmed), seats comma-separated
//	…:owners   hash: seat index → hold id, for held and sold seats
//	…:exp      sorted set: active hold id by expiry in ms, for the sweep
//	…:byowner  hash: owner → seats in their active holds (for MaxSeats)
//	…:log      list: "version:seat:status:index", the last LogSize changes;
//	           index counts the changes of one version from 0
//	…:tiers    string: each seat's tier, a byte a seat, for best available
//	…:seatinfo string: tier<<24 | row of each seat (BITFIELD u32 #i)
//	…:counts   string of u32 (BITFIELD u32 #i, one call a step): seats of
//	           tier t in status s at #(4t+s); bounds of the longest run of
//	           free seats of tier t, in any row at #(4·tiers + t), in row r
//	           at #(5·tiers + t·rows + r)
//	…:rows     string: each row's first seat, u32 big-endian
//	…:keys     hash: "<idempotency key>|<owner>" → hold id
//
// Hold, Extend, Release, Confirm, Snapshot and Changes are each one Lua
// script, one round trip (EVALSHA; Prepare loads every script with SCRIPT
// LOAD so the first hold of an on-sale needs no EVAL fallback). The scripts,
// in store_redis_scripts.go, mirror standLedger in stand.go step for step:
// change one, change both. A step that changes seats bumps the version by
// one, whatever the number of seats, and logs each seat.
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
	// keys caches the keys of the stands found prepared, by event and
	// stand: a hold then builds no key strings.
	keys sync.Map // redisStandName → []string
}

// redisStandName names one stand of one event.
type redisStandName struct{ event, stand string }

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
var redisKeyNames = [...]string{"meta", "status", "holds", "owners", "exp", "byowner", "log", "tiers", "seatinfo", "counts", "rows", "keys"}

// Keys returns the keys of event's stand, in the order of the scripts'
// KEYS: meta, status, holds, owners, exp, byowner, log, tiers, seatinfo,
// counts, rows, keys. They share one hash tag. Tests and operators use
// it; callers of the Store need not.
func (r *Redis) Keys(event, stand string) []string {
	base := r.prefix + ":{ev:" + event + ":st:" + stand + "}:"
	keys := make([]string, len(redisKeyNames))
	for i, n := range redisKeyNames {
		keys[i] = base + n
	}
	return keys
}

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
	info := make([]byte, 0, 4*st.n)
	for i, r := range st.seatRow {
		info = binary.BigEndian.AppendUint32(info, uint32(st.tiers[i])<<24|uint32(r))
	}
	counts := make([]byte, 0, 4*(5*st.tierCount+len(st.rowRun)))
	for _, c := range st.counts {
		for _, n := range []int{c.Free, c.Held, c.Sold, c.Blocked} {
			counts = binary.BigEndian.AppendUint32(counts, uint32(n))
		}
	}
	for _, n := range slices.Concat(st.tierRun, st.rowRun) {
		counts = binary.BigEndian.AppendUint32(counts, uint32(n))
	}
	rows := make([]byte, 0, 4*len(st.rows))
	for _, s := range st.rows {
		rows = binary.BigEndian.AppendUint32(rows, uint32(s))
	}
	return []any{st.n, st.tierCount, len(st.rows), st.status, st.tiers, info, counts, rows}
}

// redisTierCounts decodes the counts of tiers tiers from the start of the
// counts string.
func redisTierCounts(b string, tiers int) []TierCount {
	out := make([]TierCount, tiers)
	for t := range out {
		if len(b) < 16*(t+1) {
			break
		}
		c := b[16*t:]
		out[t] = TierCount{
			Free: int(binary.BigEndian.Uint32([]byte(c[0:4]))), Held: int(binary.BigEndian.Uint32([]byte(c[4:8]))),
			Sold: int(binary.BigEndian.Uint32([]byte(c[8:12]))), Blocked: int(binary.BigEndian.Uint32([]byte(c[12:16]))),
		}
	}
	return out
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
	name := redisStandName{event, stand}
	keys, cached := r.keys.Load(name)
	if !cached {
		keys = r.Keys(event, stand)
	}
	v, err := s.Run(ctx, r.client, keys.([]string), args...).Result()
	if err != nil {
		return nil, err
	}
	vals, ok := v.([]any)
	if !ok || len(vals) == 0 {
		return nil, fmt.Errorf("seating: redis: unexpected script reply %v", v)
	}
	if code, _ := vals[0].(string); !cached && code != "np" {
		// Only prepared stands are kept, so the cache stays as small as
		// the venues. event and stand may alias a request buffer.
		r.keys.Store(redisStandName{strings.Clone(event), strings.Clone(stand)}, keys)
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
	counts, _ := vals[3].(string)
	return StandSnapshot{
		Stand: stand, Version: redisUint(vals, 0), Status: []byte(status),
		Tiers: redisTierCounts(counts, len(counts)/16), At: time.UnixMilli(int64(redisUint(vals, 1))),
	}, nil
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

// redisParseChange parses a log entry "version:seat:status:index".
func redisParseChange(s string) (Change, error) {
	vs, rest, ok1 := strings.Cut(s, ":")
	ss, rest, ok2 := strings.Cut(rest, ":")
	st, _, ok3 := strings.Cut(rest, ":")
	ok2 = ok2 && ok3
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
	counts, _ := vals[7].(string)
	d.Tiers = redisTierCounts(counts, tc)
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
	runs := make([]int, tc+tc*nr)
	for i := range runs {
		if off := 16*tc + 4*i; off+4 <= len(counts) {
			runs[i] = int(binary.BigEndian.Uint32([]byte(counts[off : off+4])))
		}
	}
	d.TierRun, d.RowRun = runs[:tc], runs[tc:]
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
