package admission

import (
	"errors"
	"fmt"
	"hash/maphash"
	"testing"
	"time"
)

// TestCacheMatchesUncached checks that a cached token gets the answer an
// uncached one gets at every instant around its validity window and for
// every event.
func TestCacheMatchesUncached(t *testing.T) {
	for _, leeway := range []time.Duration{-1, time.Second, DefaultLeeway} {
		t.Run(fmt.Sprint("leeway ", leeway), func(t *testing.T) {
			f := newFixture(t)
			cached := newTokens(t, Config{Leeway: leeway}, f.ks)
			uncached := newTokens(t, Config{Leeway: leeway, CacheSize: -1}, f.ks)
			s, c, err := cached.Issue("v", "e1", now0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cached.Verify([]byte(s), "e1", now0); err != nil {
				t.Fatal(err)
			}
			if n := cached.cache.len(); n != 1 {
				t.Fatalf("got %d cached tokens, want 1", n)
			}
			l := max(leeway, 0)
			var instants []time.Time
			for _, edge := range []time.Time{c.NotBefore.Add(-l), c.ExpiresAt.Add(l)} {
				for _, d := range []time.Duration{-time.Second, -1, 0, 1, time.Second} {
					instants = append(instants, edge.Add(d))
				}
			}
			for _, now := range instants {
				for _, event := range []string{"e1", "e2", ""} {
					want, wantErr := uncached.Verify([]byte(s), event, now)
					got, err := cached.Verify([]byte(s), event, now)
					if got != want || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
						t.Errorf("at %v for %q: got %v, %v from the cache, want %v, %v", now, event, got, err, want, wantErr)
					}
				}
			}
		})
	}
}

func TestCacheExpiry(t *testing.T) {
	f := newFixture(t)
	s, c, err := f.cached.Issue("v", "e1", now0)
	if err != nil {
		t.Fatal(err)
	}
	end := c.ExpiresAt.Add(DefaultLeeway)
	tests := []struct {
		now  time.Time
		want error
	}{
		{now0, nil},
		{end.Add(-1), nil},
		{end, ErrExpired},
		{end.Add(time.Hour), ErrExpired},
		{end.Add(-1), nil}, // a verifier's clock may go back
	}
	for _, tt := range tests {
		if _, err := f.cached.Verify([]byte(s), "e1", tt.now); err != tt.want {
			t.Errorf("at %v: got %v, want %v", tt.now, err, tt.want)
		}
		if n := f.cached.cache.len(); n != 1 {
			t.Errorf("at %v: got %d cached tokens, want 1", tt.now, n)
		}
	}
}

func TestCacheSkipsFailures(t *testing.T) {
	f := newFixture(t)
	s, _, err := f.cached.Issue("v", "e1", now0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		event string
		now   time.Time
	}{
		{"other event", s, "e2", now0},
		{"expired", s, "e1", now0.Add(time.Hour)},
		{"not yet valid", s, "e1", now0.Add(-time.Hour)},
		{"forged", flipSignature(s), "e1", now0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.cached.Verify([]byte(tt.token), tt.event, tt.now); err == nil {
				t.Fatal("got nil error, want one")
			}
			if n := f.cached.cache.len(); n != 0 {
				t.Errorf("got %d cached tokens, want 0", n)
			}
		})
	}
}

func TestCacheBound(t *testing.T) {
	f := newFixture(t)
	for _, size := range []int{1, 7, 32, 33, 100, 257} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tok := newTokens(t, Config{CacheSize: size}, f.ks)
			for i := range 3*size + 50 {
				s, _, err := tok.Issue(fmt.Sprint(i), "e", now0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tok.Verify([]byte(s), "e", now0); err != nil {
					t.Fatal(err)
				}
				if n := tok.cache.len(); n > size {
					t.Fatalf("after %d tokens: got %d cached, want at most %d", i+1, n, size)
				}
			}
			// Evicted tokens are verified again, not rejected.
			if n := tok.cache.len(); n == 0 {
				t.Errorf("got an empty cache, want some tokens in it")
			}
		})
	}
}

// oneShard returns a cache of a single shard of the given capacity, so that
// tests know which entries compete.
func oneShard(capacity int) *cache {
	return &cache{seed: maphash.MakeSeed(), perShard: capacity, shards: []cacheShard{{m: make(map[string]Claims)}}}
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	c := oneShard(8)
	for i := range 8 {
		exp := now0.Add(time.Minute) // live
		if i%2 == 0 {
			exp = now0.Add(-time.Minute) // expired
		}
		c.put(fmt.Appendf(nil, "t%d", i), Claims{ExpiresAt: exp}, now0, 0)
	}
	c.put([]byte("new"), Claims{ExpiresAt: now0.Add(time.Minute)}, now0, 0)
	if got, want := c.len(), 5; got != want {
		t.Errorf("got %d entries, want %d", got, want)
	}
	for _, k := range []string{"t1", "t3", "t5", "t7", "new"} {
		if _, ok := c.get([]byte(k)); !ok {
			t.Errorf("live entry %q was evicted", k)
		}
	}
}

func TestCacheEvictsWhenFull(t *testing.T) {
	c := oneShard(16)
	live := Claims{ExpiresAt: now0.Add(time.Minute)}
	for i := range 16 {
		c.put(fmt.Appendf(nil, "t%d", i), live, now0, 0)
	}
	if got := c.len(); got != 16 {
		t.Fatalf("got %d entries, want 16", got)
	}
	c.put([]byte("new"), live, now0, 0)
	// Full and nothing expired: down to 7/8 of 16, then the new entry.
	if got, want := c.len(), 15; got != want {
		t.Errorf("got %d entries, want %d", got, want)
	}
	if _, ok := c.get([]byte("new")); !ok {
		t.Error("the new entry is missing")
	}
	// Putting a token already present changes nothing.
	c.put([]byte("new"), live, now0, 0)
	if got, want := c.len(), 15; got != want {
		t.Errorf("got %d entries, want %d", got, want)
	}
}

func TestNewCacheShards(t *testing.T) {
	tests := []struct{ capacity, shards, perShard int }{
		{1, 1, 1},
		{2, 2, 1},
		{31, 16, 1},
		{32, 32, 1},
		{100, 32, 3},
		{DefaultCacheSize, 32, 2048},
	}
	for _, tt := range tests {
		c := newCache(tt.capacity)
		if len(c.shards) != tt.shards || c.perShard != tt.perShard {
			t.Errorf("newCache(%d): got %d shards of %d, want %d of %d", tt.capacity, len(c.shards), c.perShard, tt.shards, tt.perShard)
		}
	}
}

// TestVerifyKeepsNoReference checks that Verify copies the token it caches:
// the proxy passes request buffers that are reused once it returns.
func TestVerifyKeepsNoReference(t *testing.T) {
	f := newFixture(t)
	s, _, err := f.cached.Issue("v", "e1", now0)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte(s)
	if _, err := f.cached.Verify(buf, "e1", now0); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'A'
	}
	if _, err := f.cached.Verify([]byte(s), "e1", now0); err != nil {
		t.Errorf("after the caller's buffer changed: got %v, want nil", err)
	}
	if _, err := f.cached.Verify(buf, "e1", now0); err == nil {
		t.Error("the caller's overwritten buffer verified")
	}
}

func TestVerifyCachedAllocs(t *testing.T) {
	f := newFixture(t)
	s, _, err := f.cached.Issue("visitor-1", "e1", now0)
	if err != nil {
		t.Fatal(err)
	}
	token := []byte(s)
	if _, err := f.cached.Verify(token, "e1", now0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event string
		now   time.Time
		want  error
	}{
		{"valid", "e1", now0, nil},
		{"expired", "e1", now0.Add(time.Hour), ErrExpired},
		{"other event", "e2", now0, ErrWrongEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(1000, func() {
				_, err = f.cached.Verify(token, tt.event, tt.now)
			})
			if err != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if allocs != 0 {
				t.Errorf("got %v allocations per cached Verify, want 0", allocs)
			}
		})
	}
}

// flipSignature changes a character in the R half of a token's signature.
func flipSignature(token string) string {
	b := []byte(token)
	i := len(b) - 60
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
