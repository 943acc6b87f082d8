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

// Publication is a stand's snapshot as published in the shared layer for
// every seating process to read.
type Publication struct {
	// Snapshot is the stand's state. Its slices are shared by every reader
	// and must not be modified.
	Snapshot StandSnapshot
	// PublishedAt is the publisher's clock when it finished reading the
	// snapshot from the authoritative store; readers judge the
	// publication's age by it.
	PublishedAt time.Time
	// Fence is the fencing token of the lock the publisher held.
	Fence uint64
}

// Shared is what seating processes share about a stand besides its
// authoritative state: the published copy of its snapshot and the global
// per-stand refresh lock. Implementations are safe for concurrent use.
//
// Every lock acquisition gets a fencing token larger than any before it for
// that stand. Publish accepts a publication only if its fence is at least
// the fence of the current publication and its version at least the current
// version, so a holder that was paused past its lease cannot overwrite what
// a later holder published.
type Shared interface {
	// Published returns the stand's publication; ok is false when there is
	// none.
	Published(ctx context.Context, event, stand string) (p Publication, ok bool, err error)
	// Lock takes the stand's refresh lock for lease unless another holder
	// has it (ok false). The fence identifies this acquisition.
	Lock(ctx context.Context, event, stand string, lease time.Duration) (fence uint64, ok bool, err error)
	// Publish replaces the stand's publication with p if p.Fence is at least
	// the current publication's fence and p's version at least its version;
	// accepted says whether it did.
	Publish(ctx context.Context, event, stand string, p Publication) (accepted bool, err error)
	// Unlock releases the stand's lock if it is still held with fence
	// (compare and delete); released says whether it was.
	Unlock(ctx context.Context, event, stand string, fence uint64) (released bool, err error)
}

// RedisSharedOptions configures a RedisShared. The zero value is ready to
// use.
type RedisSharedOptions struct {
	// Prefix starts every key. Default "seat", the Redis store's default,
	// so a stand's shared keys sit in the slot of its authoritative keys.
	// It should hold no braces.
	Prefix string
}

// RedisShared is the shared layer in Redis (single node, Sentinel or
// Cluster), for more than one seating process. A stand's keys share the
// hash tag of the store's keys for that stand:
//
//	<prefix>:{ev:<event>:st:<stand>}:pub    hash: v (version), f (fence),
//	                                        b (the publication, binary)
//	<prefix>:{ev:<event>:st:<stand>}:lock   the holder's fence, PX lease
//	<prefix>:{ev:<event>:st:<stand>}:fence  counter of lock acquisitions
//
// Published is one HGET; Lock, Publish and Unlock are one Lua script each.
// Lease expiry is timed by Redis. Versions and fences are compared as Lua
// numbers, exact below 2⁵³.
//
// RedisShared is safe for concurrent use by many goroutines and processes.
// It does not own its client.
type RedisShared struct {
	client redis.UniversalClient
	prefix string
}

var _ Shared = (*RedisShared)(nil)

// NewRedisShared returns the shared layer kept in Redis through client.
func NewRedisShared(client redis.UniversalClient, opts RedisSharedOptions) *RedisShared {
	if opts.Prefix == "" {
		opts.Prefix = "seat"
	}
	return &RedisShared{client: client, prefix: opts.Prefix}
}

// Keys returns the stand's publication, lock and fence keys. Tests and
// operators use it.
func (r *RedisShared) Keys(event, stand string) (pub, lock, fence string) {
	base := r.prefix + ":{ev:" + event + ":st:" + stand + "}:"
	return base + "pub", base + "lock", base + "fence"
}

// sharedLockScript: KEYS are the lock, fence and publication; ARGV[1] the
// lease in ms. The fence never falls to or below the current publication's,
// even if the counter was lost (eviction, a failover to a lagging replica):
// otherwise no holder could ever publish again.
var sharedLockScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local f = redis.call('INCR', KEYS[2])
local pf = tonumber(redis.call('HGET', KEYS[3], 'f') or '0')
if f <= pf then
  f = pf + 1
  redis.call('SET', KEYS[2], string.format('%d', f))
end
redis.call('SET', KEYS[1], string.format('%d', f), 'PX', ARGV[1])
return f
`)

// sharedPublishScript: KEYS[1] is the publication; ARGV are the fence, the
// version and the encoded publication. It returns 1 when accepted.
var sharedPublishScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'f', 'v')
if cur[1] and (tonumber(ARGV[1]) < tonumber(cur[1]) or tonumber(ARGV[2]) < tonumber(cur[2])) then
  return 0
end
redis.call('HSET', KEYS[1], 'f', ARGV[1], 'v', ARGV[2], 'b', ARGV[3])
return 1
`)

// sharedUnlockScript: KEYS[1] is the lock, ARGV[1] the caller's fence.
var sharedUnlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// LoadScripts loads the scripts into Redis's script cache, so the first
// refresh of an on-sale needs no EVAL fallback. StandCache.Warm calls it.
func (r *RedisShared) LoadScripts(ctx context.Context) error {
	for _, s := range []*redis.Script{sharedLockScript, sharedPublishScript, sharedUnlockScript} {
		if err := s.Load(ctx, r.client).Err(); err != nil {
			return sharedRedisError("loading scripts", err)
		}
	}
	return nil
}

// Published implements Shared.
func (r *RedisShared) Published(ctx context.Context, event, stand string) (Publication, bool, error) {
	if err := sharedCheckNames(event, stand); err != nil {
		return Publication{}, false, err
	}
	pub, _, _ := r.Keys(event, stand)
	b, err := r.client.HGet(ctx, pub, "b").Bytes()
	if errors.Is(err, redis.Nil) {
		return Publication{}, false, nil
	}
	if err != nil {
		return Publication{}, false, sharedRedisError("reading publication", err)
	}
	p, err := decodePublication(b)
	if err != nil {
		return Publication{}, false, err
	}
	p.Snapshot.Stand = stand
	return p, true, nil
}

// Lock implements Shared.
func (r *RedisShared) Lock(ctx context.Context, event, stand string, lease time.Duration) (uint64, bool, error) {
	if err := sharedCheckNames(event, stand); err != nil {
		return 0, false, err
	}
	if lease < time.Millisecond {
		return 0, false, fmt.Errorf("%w: lock lease %v is under 1ms", ErrInvalid, lease)
	}
	pub, lock, fence := r.Keys(event, stand)
	f, err := sharedLockScript.Run(ctx, r.client, []string{lock, fence, pub}, lease.Milliseconds()).Int64()
	if err != nil {
		return 0, false, sharedRedisError("locking", err)
	}
	if f < 0 {
		return 0, false, fmt.Errorf("seating: redis locking: unexpected fence %d", f)
	}
	return uint64(f), f > 0, nil
}

// Publish implements Shared.
func (r *RedisShared) Publish(ctx context.Context, event, stand string, p Publication) (bool, error) {
	if err := sharedCheckNames(event, stand); err != nil {
		return false, err
	}
	pub, _, _ := r.Keys(event, stand)
	n, err := sharedPublishScript.Run(ctx, r.client, []string{pub},
		strconv.FormatUint(p.Fence, 10), strconv.FormatUint(p.Snapshot.Version, 10), appendPublication(nil, p)).Int64()
	if err != nil {
		return false, sharedRedisError("publishing", err)
	}
	return n == 1, nil
}

// Unlock implements Shared.
func (r *RedisShared) Unlock(ctx context.Context, event, stand string, fence uint64) (bool, error) {
	if err := sharedCheckNames(event, stand); err != nil {
		return false, err
	}
	_, lock, _ := r.Keys(event, stand)
	n, err := sharedUnlockScript.Run(ctx, r.client, []string{lock}, strconv.FormatUint(fence, 10)).Int64()
	if err != nil {
		return false, sharedRedisError("unlocking", err)
	}
	return n == 1, nil
}

// sharedCheckNames refuses names that would break the hash tag.
func sharedCheckNames(event, stand string) error {
	if event == "" || stand == "" || strings.ContainsAny(event, "{}") || strings.ContainsAny(stand, "{}") {
		return fmt.Errorf("%w: event %q, stand %q", ErrInvalid, event, stand)
	}
	return nil
}

// sharedRedisError maps err to ErrUnavailable when Redis could not be
// reached or cannot serve now, keeping the cause in the chain, as the
// stores do.
func sharedRedisError(op string, err error) error {
	var reply redis.Error
	if !errors.As(err, &reply) || redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMasterDownError(err) ||
		redis.IsMaxClientsError(err) || redis.IsOOMError(err) || redis.HasErrorPrefix(err, "BUSY") {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("seating: redis %s: %w", op, err)
}

// publicationFormat is the first byte of an encoded publication; a reader
// refuses others, so the format can change between releases.
const publicationFormat = 1

// appendPublication appends p's binary encoding to b: the format byte, then
// uvarints version, fence, published-at (Unix ms), snapshot time (Unix µs,
// 0 for none), the tier count and each tier's free, held, sold and blocked,
// the status length, and the packed status bytes.
func appendPublication(b []byte, p Publication) []byte {
	s := p.Snapshot
	b = slices.Grow(b, 48+len(s.Tiers)*8+len(s.Status))
	b = append(b, publicationFormat)
	b = binary.AppendUvarint(b, s.Version)
	b = binary.AppendUvarint(b, p.Fence)
	b = binary.AppendVarint(b, p.PublishedAt.UnixMilli())
	var at int64
	if !s.At.IsZero() {
		at = s.At.UnixMicro()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(s.Tiers)))
	for _, t := range s.Tiers {
		for _, n := range [4]int{t.Free, t.Held, t.Sold, t.Blocked} {
			b = binary.AppendUvarint(b, uint64(max(n, 0)))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Status)))
	return append(b, s.Status...)
}

// errBadPublication means a stored publication could not be decoded.
var errBadPublication = errors.New("seating: malformed publication in the shared layer")

// decodePublication decodes what appendPublication wrote. The stand's name
// is not part of the encoding.
func decodePublication(b []byte) (Publication, error) {
	d := publicationDecoder{b: b}
	if len(b) == 0 || b[0] != publicationFormat {
		return Publication{}, errBadPublication
	}
	d.b = d.b[1:]
	var p Publication
	p.Snapshot.Version = d.uvarint()
	p.Fence = d.uvarint()
	p.PublishedAt = time.UnixMilli(d.varint())
	if at := d.varint(); at != 0 {
		p.Snapshot.At = time.UnixMicro(at)
	}
	nt := d.uvarint()
	if nt > uint64(len(d.b))/4 { // each tier takes at least 4 bytes
		return Publication{}, errBadPublication
	}
	p.Snapshot.Tiers = make([]TierCount, nt)
	for i := range p.Snapshot.Tiers {
		t := &p.Snapshot.Tiers[i]
		t.Free, t.Held, t.Sold, t.Blocked = d.count(), d.count(), d.count(), d.count()
	}
	ns := d.uvarint()
	if d.bad || ns != uint64(len(d.b)) {
		return Publication{}, errBadPublication
	}
	p.Snapshot.Status = slices.Clone(d.b)
	return p, nil
}

// publicationDecoder reads uvarints until the first error, which it
// remembers.
type publicationDecoder struct {
	b   []byte
	bad bool
}

func (d *publicationDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *publicationDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *publicationDecoder) count() int {
	v := d.uvarint()
	if v > 1<<31 {
		d.bad = true
	}
	return int(v)
}

// MemoryShared is the shared layer of a single process, for the memory
// store: the same semantics as RedisShared, with lease expiry timed by the
// clock it is given. It is safe for concurrent use.
type MemoryShared struct {
	now func() time.Time

	// mu guards stands; each stand has its own lock for its state.
	mu     sync.Mutex
	stands map[sharedKey]*memoryStand
}

var _ Shared = (*MemoryShared)(nil)

// sharedKey names a stand of an event.
type sharedKey struct{ event, stand string }

// memoryStand is one stand's shared state.
type memoryStand struct {
	// mu guards the fields below.
	mu        sync.Mutex
	pub       Publication
	published bool
	fence     uint64    // the last fence given
	holder    uint64    // the lock holder's fence, 0 when unlocked
	until     time.Time // when the holder's lease ends
}

// NewMemoryShared returns an in-process shared layer timed by now (nil
// means time.Now).
func NewMemoryShared(now func() time.Time) *MemoryShared {
	if now == nil {
		now = time.Now
	}
	return &MemoryShared{now: now, stands: make(map[sharedKey]*memoryStand)}
}

func (m *MemoryShared) stand(event, stand string) *memoryStand {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := sharedKey{event, stand}
	s := m.stands[k]
	if s == nil {
		s = &memoryStand{}
		m.stands[k] = s
	}
	return s
}

// Published implements Shared.
func (m *MemoryShared) Published(ctx context.Context, event, stand string) (Publication, bool, error) {
	if err := ctx.Err(); err != nil {
		return Publication{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s := m.stand(event, stand)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pub, s.published, nil
}

// Lock implements Shared.
func (m *MemoryShared) Lock(ctx context.Context, event, stand string, lease time.Duration) (uint64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if lease <= 0 {
		return 0, false, fmt.Errorf("%w: lock lease %v", ErrInvalid, lease)
	}
	s := m.stand(event, stand)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder != 0 && now.Before(s.until) {
		return 0, false, nil
	}
	s.fence = max(s.fence, s.pub.Fence) + 1
	s.holder, s.until = s.fence, now.Add(lease)
	return s.fence, true, nil
}

// Publish implements Shared. It keeps its own copy of p's slices.
func (m *MemoryShared) Publish(ctx context.Context, event, stand string, p Publication) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s := m.stand(event, stand)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.published && (p.Fence < s.pub.Fence || p.Snapshot.Version < s.pub.Snapshot.Version) {
		return false, nil
	}
	p.Snapshot.Stand = stand
	p.Snapshot.Status = slices.Clone(p.Snapshot.Status)
	p.Snapshot.Tiers = slices.Clone(p.Snapshot.Tiers)
	s.pub, s.published = p, true
	return true, nil
}

// Unlock implements Shared.
func (m *MemoryShared) Unlock(ctx context.Context, event, stand string, fence uint64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s := m.stand(event, stand)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// An expired lease is gone, as the key of an expired lock is in Redis.
	if s.holder == 0 || s.holder != fence || !now.Before(s.until) {
		return false, nil
	}
	s.holder = 0
	return true, nil
}
