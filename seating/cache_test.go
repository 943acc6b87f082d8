package seating

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
)

// cacheFakeAuthority is a tiny authority: every successful read returns
// the stand at a higher version, all seats free. It is safe for
// concurrent use.
type cacheFakeAuthority struct {
	seats int

	// mu guards version and err.
	mu      sync.Mutex
	version uint64 // the version the last read returned
	err     error  // returned instead of a snapshot when set
}

func (a *cacheFakeAuthority) Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return StandSnapshot{}, a.err
	}
	a.version++
	return StandSnapshot{
		Stand: stand, Version: a.version, Status: make([]byte, (a.seats+3)/4),
		Tiers: []TierCount{{Free: a.seats}}, At: time.Now(),
	}, nil
}

func (a *cacheFakeAuthority) setErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err = err
}

// cacheCountingAuthority counts the reads of each stand through it. It is
// safe for concurrent use.
type cacheCountingAuthority struct {
	inner authority

	// mu guards reads and starts.
	mu    sync.Mutex
	reads map[string]int
	// starts are the real times reads of each stand began.
	starts map[string][]time.Time
}

func (a *cacheCountingAuthority) Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error) {
	a.mu.Lock()
	if a.reads == nil {
		a.reads = make(map[string]int)
		a.starts = make(map[string][]time.Time)
	}
	a.reads[stand]++
	a.starts[stand] = append(a.starts[stand], time.Now())
	a.mu.Unlock()
	return a.inner.Snapshot(ctx, event, stand)
}

func (a *cacheCountingAuthority) count(stand string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reads[stand]
}

// cacheFixedAuthority serves one snapshot.
type cacheFixedAuthority struct{ snap StandSnapshot }

func (a cacheFixedAuthority) Snapshot(context.Context, string, string) (StandSnapshot, error) {
	return a.snap, nil
}

func newTestCache(t *testing.T, cfg CacheConfig, auth authority, shared Shared, now func() time.Time) *StandCache {
	t.Helper()
	c, err := NewStandCache(cfg, auth, shared, prometheus.NewRegistry(), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// cacheQuiesce waits for the refreshes running in c to end. Nothing may
// call c meanwhile.
func cacheQuiesce(t *testing.T, c *StandCache) {
	t.Helper()
	for _, m := range *c.stands.Load() {
		for _, e := range m {
			e.mu.Lock()
			f := e.flight
			e.mu.Unlock()
			if f == nil {
				continue
			}
			select {
			case <-f.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("refresh of stand %s still running after 10s", e.stand)
			}
		}
	}
}

func TestCacheConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     CacheConfig
		wantErr bool
		want    CacheConfig
	}{
		{"zero", CacheConfig{}, false, CacheConfig{Interval: time.Second, LockLease: 2 * time.Second, PassThrough: 0.01, RetryInterval: 100 * time.Millisecond}},
		{"interval only", CacheConfig{Interval: 250 * time.Millisecond}, false, CacheConfig{Interval: 250 * time.Millisecond, LockLease: 500 * time.Millisecond, PassThrough: 0.01, RetryInterval: 25 * time.Millisecond}},
		{"pass-through off", CacheConfig{PassThrough: -1}, false, CacheConfig{Interval: time.Second, LockLease: 2 * time.Second, PassThrough: -1, RetryInterval: 100 * time.Millisecond}},
		{"negative interval", CacheConfig{Interval: -1}, true, CacheConfig{}},
		{"negative lease", CacheConfig{LockLease: -time.Second}, true, CacheConfig{}},
		{"lease under 1ms", CacheConfig{LockLease: time.Microsecond}, true, CacheConfig{}},
		{"pass-through above 1", CacheConfig{PassThrough: 1.5}, true, CacheConfig{}},
		{"pass-through NaN", CacheConfig{PassThrough: math.NaN()}, true, CacheConfig{}},
		{"retry longer than interval", CacheConfig{Interval: time.Second, RetryInterval: 2 * time.Second}, true, CacheConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("Validate: got %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got := tc.cfg.withDefaults(); got != tc.want {
				t.Errorf("withDefaults: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCacheReadPath(t *testing.T) {
	ctx := context.Background()
	clock := newCacheClock()
	shared := NewMemoryShared(clock.Now)
	auth := &cacheCountingAuthority{inner: &cacheFakeAuthority{seats: 10}}
	cfg := CacheConfig{Interval: time.Second, PassThrough: -1}
	a := newTestCache(t, cfg, auth, shared, clock.Now)
	b := newTestCache(t, cfg, auth, shared, clock.Now)

	steps := []struct {
		name        string
		cache       *StandCache
		advance     time.Duration
		wantVersion uint64
		wantSource  string
		wantReads   int
	}{
		{"first read loads from the authority", a, 0, 1, SourceAuthority, 1},
		{"within the interval: process copy", a, 500 * time.Millisecond, 1, SourceProcess, 1},
		{"another process: the published copy", b, 0, 1, SourceShared, 1},
		{"due: old copy served, refresh in background", a, 500 * time.Millisecond, 1, SourceProcess, 2},
		{"after the refresh: new version", a, 0, 2, SourceProcess, 2},
		{"other process due: takes the new publication", b, 0, 1, SourceProcess, 2},
		{"other process after its refresh", b, 0, 2, SourceProcess, 2},
		{"idle past interval+lease: waits for the refresh", a, time.Hour, 3, SourceAuthority, 3},
		{"the other idle process waits too", b, 0, 3, SourceShared, 3},
	}
	for _, s := range steps {
		clock.Add(s.advance)
		v, err := s.cache.Get(ctx, "final", "north")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		cacheQuiesce(t, s.cache)
		if v.Snapshot.Version != s.wantVersion || v.Source != s.wantSource || v.Stale {
			t.Errorf("%s: got version %d from %s (stale %v), want version %d from %s", s.name, v.Snapshot.Version, v.Source, v.Stale, s.wantVersion, s.wantSource)
		}
		if got := auth.count("north"); got != s.wantReads {
			t.Errorf("%s: got %d authority reads, want %d", s.name, got, s.wantReads)
		}
	}
	if _, err := a.Get(ctx, "", "north"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get of an empty event: got %v, want ErrInvalid", err)
	}
}

func TestCacheFourProcessesReadAuthorityOncePerInterval(t *testing.T) {
	srv := redistest.Start(t)
	const (
		procs    = 4
		readers  = 50
		stands   = 8
		interval = 250 * time.Millisecond
		run      = 3 * time.Second
	)
	auth := &cacheFakeAuthority{seats: 1000}
	cfg := CacheConfig{Interval: interval}
	counters := make([]*cacheCountingAuthority, procs)
	caches := make([]*StandCache, procs)
	for i := range procs {
		counters[i] = &cacheCountingAuthority{inner: auth}
		caches[i] = newTestCache(t, cfg, counters[i], NewRedisShared(srv.Client(t), RedisSharedOptions{}), nil)
	}
	standName := func(k int) string { return fmt.Sprintf("s%d", k) }

	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(run)
	var reads, stale, errs atomic.Int64
	var wg sync.WaitGroup
	for p := range procs {
		for r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := make([]uint64, stands)
				for n := 0; time.Now().Before(deadline); n++ {
					k := (r + n) % stands
					v, err := caches[p].Get(ctx, "final", standName(k))
					if err != nil {
						errs.Add(1)
						continue
					}
					reads.Add(1)
					if v.Stale {
						stale.Add(1)
					}
					if v.Snapshot.Version < last[k] {
						t.Errorf("process %d stand %d: version went back from %d to %d", p, k, last[k], v.Snapshot.Version)
					}
					last[k] = v.Snapshot.Version
					// A fan's browser polls; a reader that never yields would
					// only measure the scheduler of a small test machine.
					time.Sleep(time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	for _, c := range caches {
		c.Close()
	}
	elapsed := time.Since(start)

	bound := int(math.Ceil(float64(elapsed)/float64(interval))) + 1
	t.Logf("%d map reads by %d processes × %d goroutines over %v (interval %v): %d errors, %d stale",
		reads.Load(), procs, readers, elapsed.Round(time.Millisecond), interval, errs.Load(), stale.Load())
	for k := range stands {
		total := 0
		per := make([]int, procs)
		var starts []time.Time
		for p, c := range counters {
			per[p] = c.count(standName(k))
			total += per[p]
			c.mu.Lock()
			starts = append(starts, c.starts[standName(k)]...)
			c.mu.Unlock()
		}
		slices.SortFunc(starts, time.Time.Compare)
		minGap := time.Duration(math.MaxInt64)
		for i := 1; i < len(starts); i++ {
			minGap = min(minGap, starts[i].Sub(starts[i-1]))
		}
		t.Logf("stand %s: %d authority reads (by process %v), bound ceil(elapsed/interval)+1 = %d; shortest gap between reads %v",
			standName(k), total, per, bound, minGap.Round(time.Millisecond))
		if total > bound {
			t.Errorf("stand %s: got %d authority reads, want at most %d", standName(k), total, bound)
		}
		// A loaded test machine may starve the refreshes; none at all
		// after the first load would be a bug.
		if total < 2 {
			t.Errorf("stand %s: got %d authority reads, want the first load and refreshes after it", standName(k), total)
		}
	}
	var hits [2]int
	var acquired, busy, published, refused int
	for _, c := range caches {
		hits[0] += cacheCounter(t, c.m.processHits)
		hits[1] += cacheCounter(t, c.m.sharedHits)
		acquired += cacheCounter(t, c.m.lockAcquired)
		busy += cacheCounter(t, c.m.lockBusy)
		published += cacheCounter(t, c.m.refreshPublished)
		refused += cacheCounter(t, c.m.refreshRefused)
	}
	stats := srv.CommandStats(t)
	t.Logf("cache hits: process %d, shared %d; locks: %d acquired, %d busy; refreshes: %d published, %d refused; Redis calls: hget %d, evalsha %d",
		hits[0], hits[1], acquired, busy, published, refused, stats["hget"], stats["evalsha"])
	if errs.Load() != 0 {
		t.Errorf("got %d errors from Get, want none", errs.Load())
	}
}

func TestStaleSnapshotServedWhenAuthorityFails(t *testing.T) {
	ctx := context.Background()
	clock := newCacheClock()
	fake := &cacheFakeAuthority{seats: 40}
	auth := &cacheCountingAuthority{inner: fake}
	c := newTestCache(t, CacheConfig{Interval: time.Second, LockLease: 2 * time.Second, PassThrough: -1}, auth, NewMemoryShared(clock.Now), clock.Now)
	down := fmt.Errorf("%w: connection refused", ErrUnavailable)

	steps := []struct {
		name        string
		advance     time.Duration
		err         error // the authority's answer from this step on
		wantVersion uint64
		wantStale   bool
		wantReads   int // authority reads after the step
	}{
		{"loaded", 0, nil, 1, false, 1},
		{"store down, refresh fails", time.Second, down, 1, true, 2},
		{"within the failed holder's lease: no new read", time.Second, down, 1, true, 2},
		{"lease over: another try", 1500 * time.Millisecond, down, 1, true, 3},
		{"store back", 3 * time.Second, nil, 2, false, 4},
	}
	for _, s := range steps {
		fake.setErr(s.err)
		clock.Add(s.advance)
		if _, err := c.Get(ctx, "final", "north"); err != nil {
			t.Fatalf("%s: first Get: %v", s.name, err)
		}
		cacheQuiesce(t, c)
		v, err := c.Get(ctx, "final", "north")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if v.Snapshot.Version != s.wantVersion || v.Stale != s.wantStale {
			t.Errorf("%s: got version %d stale %v, want version %d stale %v", s.name, v.Snapshot.Version, v.Stale, s.wantVersion, s.wantStale)
		}
		if got := auth.count("north"); got != s.wantReads {
			t.Errorf("%s: got %d authority reads, want %d", s.name, got, s.wantReads)
		}
	}
	// Every Get between the first failure and the recovery, but the one
	// that started the first failing refresh.
	if got := cacheCounter(t, c.m.staleServed); got != 6 {
		t.Errorf("stale snapshots served: got %d, want 6", got)
	}
	if got := cacheCounter(t, c.m.refreshFailed); got != 2 {
		t.Errorf("failed refreshes: got %d, want 2", got)
	}

	// A stand never loaded has nothing to fall back on.
	fake.setErr(down)
	_, err := c.Get(ctx, "final", "south")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get of a stand never loaded, store down: got %v, want ErrUnavailable", err)
	}
	if c.lookup("final", "south") != nil {
		t.Error("a stand that failed to load stays in the index")
	}
	fake.setErr(ErrNotPrepared)
	if _, err := c.Get(ctx, "final", "west"); !errors.Is(err, ErrNotPrepared) || errors.Is(err, ErrUnavailable) {
		t.Errorf("Get of a stand the store does not know: got %v, want ErrNotPrepared", err)
	}
}

func TestStaleSnapshotRedisStoreUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	storeClient := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	store := NewRedis(storeClient, RedisOptions{})
	layout := StandLayout{ID: "north", Tiers: make([]uint8, 100), TierCount: 1, Blocked: []int{3}}
	if err := store.Prepare(ctx, "final", []StandLayout{layout}); err != nil {
		t.Fatal(err)
	}
	sharedClient := srv.Client(t)
	clock := newCacheClock()
	c := newTestCache(t, CacheConfig{Interval: time.Second, PassThrough: -1}, store, NewRedisShared(sharedClient, RedisSharedOptions{}), clock.Now)
	v, err := c.Get(ctx, "final", "north")
	if err != nil || v.Stale || v.Source != SourceAuthority {
		t.Fatalf("first Get: got %+v, %v, want a fresh view from the store", v, err)
	}
	version := v.Snapshot.Version
	if got := c.KnownTaken("final", "north", []int{2, 3}); !slices.Equal(got, []int{3}) {
		t.Errorf("KnownTaken: got %v, want the blocked seat [3]", got)
	}

	// The store and the shared layer become unreachable.
	storeClient.Close()
	sharedClient.Close()
	clock.Add(time.Second)
	c.Get(ctx, "final", "north")
	cacheQuiesce(t, c)
	v, err = c.Get(ctx, "final", "north")
	if err != nil || !v.Stale || v.Snapshot.Version != version || len(v.Snapshot.Status) != 25 {
		t.Errorf("Get with Redis unreachable: got version %d stale %v status %d bytes, err %v; want the last good snapshot marked stale",
			v.Snapshot.Version, v.Stale, len(v.Snapshot.Status), err)
	}
	if _, err := c.Get(ctx, "final", "south"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get of a stand never loaded with Redis unreachable: got %v, want ErrUnavailable", err)
	}
}

func TestCachePassThroughBoundsStaleness(t *testing.T) {
	for _, tc := range []struct {
		name        string
		passThrough float64
		wantVersion uint64
		wantSource  string
	}{
		{"every read passes through", 1, 9, SourceShared},
		{"no pass-through: process copy", -1, 1, SourceProcess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := newCacheClock()
			shared := NewMemoryShared(clock.Now)
			c := newTestCache(t, CacheConfig{Interval: time.Second, PassThrough: tc.passThrough}, &cacheFakeAuthority{seats: 8}, shared, clock.Now)
			if _, err := c.Get(ctx, "final", "north"); err != nil {
				t.Fatal(err)
			}
			// Another process publishes a newer version.
			clock.Add(100 * time.Millisecond)
			fence, ok, err := shared.Lock(ctx, "final", "north", time.Second)
			if err != nil || !ok {
				t.Fatalf("Lock: %v, %v", ok, err)
			}
			p := Publication{Snapshot: StandSnapshot{Version: 9, Status: make([]byte, 2)}, PublishedAt: clock.Now(), Fence: fence}
			if ok, err := shared.Publish(ctx, "final", "north", p); err != nil || !ok {
				t.Fatalf("Publish: %v, %v", ok, err)
			}
			for range 10 {
				v, err := c.Get(ctx, "final", "north")
				if err != nil {
					t.Fatal(err)
				}
				if v.Snapshot.Version != tc.wantVersion || v.Source != tc.wantSource {
					t.Fatalf("Get: got version %d from %s, want %d from %s", v.Snapshot.Version, v.Source, tc.wantVersion, tc.wantSource)
				}
			}
		})
	}
}

// cachePack packs statuses two bits a seat, most significant first.
func cachePack(st []Status) []byte {
	b := make([]byte, (len(st)+3)/4)
	for i, s := range st {
		b[i/4] |= byte(s) << (6 - 2*(i%4))
	}
	return b
}

func TestCacheKnownTakenOnlySaysNo(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 7))
	for round := range 200 {
		n := 1 + rng.IntN(300)
		st := make([]Status, n)
		for i := range st {
			st[i] = Status(rng.IntN(4))
		}
		clock := newCacheClock()
		auth := cacheFixedAuthority{StandSnapshot{Version: 1, Status: cachePack(st)}}
		c := newTestCache(t, CacheConfig{Interval: time.Second, PassThrough: -1}, auth, NewMemoryShared(clock.Now), clock.Now)
		if _, err := c.Get(ctx, "final", "north"); err != nil {
			t.Fatal(err)
		}
		seats := make([]int, 1+rng.IntN(8))
		for i := range seats {
			seats[i] = rng.IntN(n+4) - 2 // a few out of range
		}
		for _, age := range []time.Duration{0, time.Second} {
			clock.Add(age)
			got := c.KnownTaken("final", "north", seats)
			var want []int
			for _, s := range seats {
				if s < 0 || s >= n {
					continue
				}
				if st[s] == Sold || st[s] == Blocked || st[s] == Held && age < time.Second {
					want = append(want, s)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, snapshot age %v, seats %v of %v: got %v, want %v", round, age, seats, st, got, want)
			}
			for _, s := range got {
				if st[s] == Free {
					t.Fatalf("round %d: KnownTaken reported seat %d, which the snapshot shows free", round, s)
				}
			}
		}
	}
}

func TestCacheNoteTaken(t *testing.T) {
	ctx := context.Background()
	clock := newCacheClock()
	fake := &cacheFakeAuthority{seats: 8}
	c := newTestCache(t, CacheConfig{Interval: time.Second, PassThrough: -1}, fake, NewMemoryShared(clock.Now), clock.Now)
	if got := c.KnownTaken("final", "north", []int{1}); got != nil {
		t.Errorf("KnownTaken of a stand never loaded: got %v, want nothing", got)
	}
	if _, err := c.Get(ctx, "final", "north"); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Millisecond)
	c.NoteTaken("final", "north", []int{2, 5})
	for _, s := range []struct {
		name    string
		advance time.Duration
		refresh bool
		want    []int
	}{
		{"noted after the snapshot", 0, false, []int{2, 5}},
		{"still within the interval", 900 * time.Millisecond, false, []int{2, 5}},
		{"an interval later", 100 * time.Millisecond, false, nil},
	} {
		clock.Add(s.advance)
		if got := c.KnownTaken("final", "north", []int{1, 2, 5}); !slices.Equal(got, s.want) {
			t.Errorf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	// A snapshot read after the note replaces it.
	c.NoteTaken("final", "north", []int{4})
	clock.Add(10 * time.Millisecond)
	c.Get(ctx, "final", "north")
	cacheQuiesce(t, c)
	if got := c.KnownTaken("final", "north", []int{4}); got != nil {
		t.Errorf("after a newer snapshot: got %v, want nothing (it shows seat 4 free)", got)
	}
	if got := cacheCounter(t, c.m.rejections); got != 2 {
		t.Errorf("seat cache rejections: got %d, want 2", got)
	}
}

func TestCacheWarm(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	fake := &cacheFakeAuthority{seats: 100}
	auth := &cacheCountingAuthority{inner: fake}
	shared := NewRedisShared(srv.Client(t), RedisSharedOptions{})
	a := newTestCache(t, CacheConfig{Interval: time.Minute, PassThrough: -1}, auth, shared, nil)
	stands := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	srv.Client(t).ScriptFlush(ctx)
	if err := a.Warm(ctx, "final", stands); err != nil {
		t.Fatal(err)
	}
	if got := srv.CommandStats(t)["eval"]; got != 0 {
		t.Errorf("after Warm: got %d EVAL (script cache misses), want 0", got)
	}
	for _, st := range stands {
		if got := auth.count(st); got != 1 {
			t.Errorf("stand %s: got %d authority reads, want 1", st, got)
		}
		if _, ok, err := shared.Published(ctx, "final", st); err != nil || !ok {
			t.Errorf("stand %s: not published after Warm (%v)", st, err)
		}
	}
	// Warm again, and a second process: nothing more to read.
	b := newTestCache(t, CacheConfig{Interval: time.Minute, PassThrough: -1}, auth, shared, nil)
	for _, c := range []*StandCache{a, b} {
		if err := c.Warm(ctx, "final", stands); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range stands {
		if got := auth.count(st); got != 1 {
			t.Errorf("stand %s after warming twice more: got %d authority reads, want 1", st, got)
		}
		if v, err := b.Get(ctx, "final", st); err != nil || v.Source != SourceProcess {
			t.Errorf("stand %s: Get after Warm got source %q, %v, want the process copy", st, v.Source, err)
		}
	}
	fake.setErr(fmt.Errorf("%w: down", ErrUnavailable))
	err := a.Warm(ctx, "final", []string{"x", "y"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Warm with the store down: got %v, want ErrUnavailable", err)
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	ctx := context.Background()
	clock := newCacheClock()
	shared := NewMemoryShared(clock.Now)
	fake := &cacheFakeAuthority{seats: 64}
	var caches []*StandCache
	for range 3 {
		caches = append(caches, newTestCache(t, CacheConfig{Interval: 10 * time.Millisecond, LockLease: time.Second, PassThrough: 0.2}, fake, shared, clock.Now))
	}
	stop := make(chan struct{})
	var clockWG sync.WaitGroup
	clockWG.Add(1)
	go func() {
		defer clockWG.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				clock.Add(3 * time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := caches[g%len(caches)]
			stand := fmt.Sprintf("s%d", g%4)
			for i := range 400 {
				switch i % 4 {
				case 0:
					c.NoteTaken("final", stand, []int{i % 64})
				case 1:
					c.KnownTaken("final", stand, []int{i % 64, (i + 1) % 64})
				default:
					if _, err := c.Get(ctx, "final", stand); err != nil {
						t.Errorf("Get: %v", err)
						return
					}
				}
			}
		}()
	}
	if err := caches[0].Warm(ctx, "final", []string{"s0", "s1", "s2", "s3"}); err != nil {
		t.Error(err)
	}
	wg.Wait()
	close(stop)
	clockWG.Wait()
	for _, c := range caches {
		c.Close()
	}
}

func TestCacheGetAllocs(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, CacheConfig{Interval: time.Hour, PassThrough: -1}, &cacheFakeAuthority{seats: 1000}, NewMemoryShared(nil), nil)
	if _, err := c.Get(ctx, "final", "north"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { c.Get(ctx, "final", "north") }); n != 0 {
		t.Errorf("Get from the process copy: got %v allocations, want 0", n)
	}
}

func BenchmarkCacheGet(b *testing.B) {
	ctx := context.Background()
	c, err := NewStandCache(CacheConfig{}, &cacheFakeAuthority{seats: 50000}, NewMemoryShared(nil), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(ctx, "final", "north"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get(ctx, "final", "north")
		}
	})
}
