package admission

import (
	"hash/maphash"
	"sync"
	"time"
)

// maxShards is the number of shards of a cache large enough to use them all.
// Sharding spreads the lock traffic of many cores verifying at once.
const maxShards = 32

// cache remembers the claims of tokens that verified, keyed by the exact
// token bytes, so that a token presented again costs a map lookup instead of
// an Ed25519 verification. Entries hold what was true when the token
// verified; the caller re-checks times and event on every hit.
//
// A cache holds at most its capacity of entries and is safe for concurrent
// use. Each shard has its own lock and no operation holds two.
type cache struct {
	seed     maphash.Seed
	perShard int // capacity of each shard; shards × perShard ≤ capacity
	shards   []cacheShard
}

type cacheShard struct {
	mu sync.RWMutex      // guards m
	m  map[string]Claims // exact token bytes → claims
	// Padding keeps the locks of neighbouring shards on different cache
	// lines.
	_ [64]byte
}

// newCache returns a cache of at most capacity entries, which must be
// positive.
func newCache(capacity int) *cache {
	n := maxShards
	for n > capacity {
		n /= 2
	}
	c := &cache{seed: maphash.MakeSeed(), perShard: capacity / n, shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]Claims)
	}
	return c
}

func (c *cache) shard(token []byte) *cacheShard {
	// len(shards) is a power of two.
	return &c.shards[maphash.Bytes(c.seed, token)&uint64(len(c.shards)-1)]
}

// get returns the claims of token if it is in the cache. It does not
// allocate.
func (c *cache) get(token []byte) (Claims, bool) {
	s := c.shard(token)
	s.mu.RLock()
	claims, ok := s.m[string(token)]
	s.mu.RUnlock()
	return claims, ok
}

// put remembers that token verified with claims. When the token's shard is
// full it first drops the entries that have expired at now (with leeway),
// then, if that freed less than an eighth of the shard, evicts arbitrary
// entries down to seven eighths, so that full sweeps are at most one per
// perShard/8 insertions.
func (c *cache) put(token []byte, claims Claims, now time.Time, leeway time.Duration) {
	s := c.shard(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[string(token)]; ok {
		return
	}
	if len(s.m) >= c.perShard {
		for k, e := range s.m {
			if !now.Before(e.ExpiresAt.Add(leeway)) {
				delete(s.m, k)
			}
		}
		keep := c.perShard - max(1, c.perShard/8)
		// Map iteration starts at a random entry, which makes this a
		// random eviction.
		for k := range s.m {
			if len(s.m) <= keep {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[string(token)] = claims
}

// len returns the number of entries, for tests.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
