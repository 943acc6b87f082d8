package seating

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/internal/testclock"
)

func newCacheClock() *testclock.Clock {
	return testclock.New(time.Date(2030, 5, 1, 19, 0, 0, 0, time.UTC))
}

// sharedUnderTest is one implementation of Shared with what the tests need
// to drive it.
type sharedUnderTest struct {
	name   string
	shared Shared
	// expire makes every lease taken so far end: by advancing the clock
	// for the memory layer, by waiting for Redis for the Redis layer.
	expire func(t *testing.T, event, stand string)
	// loseFence deletes the fence counter, or is nil when it cannot be lost.
	loseFence func(t *testing.T, event, stand string)
	// lease is the lease the tests take.
	lease time.Duration
}

func sharedImplementations(t *testing.T) []sharedUnderTest {
	clock := newCacheClock()
	mem := sharedUnderTest{
		name:   "memory",
		shared: NewMemoryShared(clock.Now),
		expire: func(t *testing.T, _, _ string) { clock.Add(time.Hour) },
		lease:  time.Second,
	}
	srv := redistest.Start(t)
	client := srv.Client(t)
	rs := NewRedisShared(client, RedisSharedOptions{})
	red := sharedUnderTest{
		name:   "redis",
		shared: rs,
		expire: func(t *testing.T, event, stand string) {
			// Redis times the lease; wait until it has ended.
			_, lock, _ := rs.Keys(event, stand)
			deadline := time.Now().Add(5 * time.Second)
			for {
				n, err := client.Exists(context.Background(), lock).Result()
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("lock %s still held after 5s", lock)
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
		loseFence: func(t *testing.T, event, stand string) {
			_, _, fence := rs.Keys(event, stand)
			if err := client.Del(context.Background(), fence).Err(); err != nil {
				t.Fatal(err)
			}
		},
		lease: 300 * time.Millisecond,
	}
	return []sharedUnderTest{mem, red}
}

func testPublication(version, fence uint64, at time.Time) Publication {
	return Publication{
		Snapshot: StandSnapshot{
			Stand:   "a",
			Version: version,
			Status:  []byte{0b00011011, 0b10000000},
			Tiers:   []TierCount{{Free: 2, Held: 1, Sold: 1, Blocked: 1}, {Free: 300}},
			At:      at.Add(-time.Millisecond).Truncate(time.Microsecond),
		},
		PublishedAt: at.Truncate(time.Millisecond),
		Fence:       fence,
	}
}

func TestSharedLockPublishUnlock(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 5, 1, 19, 0, 0, 0, time.UTC)
	for _, impl := range sharedImplementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.shared
			const ev, st = "final", "a"
			if _, ok, err := s.Published(ctx, ev, st); err != nil || ok {
				t.Fatalf("Published before any publish: got ok %v, err %v, want nothing", ok, err)
			}
			f1, ok, err := s.Lock(ctx, ev, st, impl.lease)
			if err != nil || !ok || f1 == 0 {
				t.Fatalf("first Lock: got fence %d, ok %v, err %v, want a fence", f1, ok, err)
			}
			if f, ok, err := s.Lock(ctx, ev, st, impl.lease); err != nil || ok {
				t.Fatalf("second Lock while held: got fence %d, ok %v, err %v, want busy", f, ok, err)
			}
			// Another stand's lock is independent.
			if _, ok, err := s.Lock(ctx, ev, "b", impl.lease); err != nil || !ok {
				t.Fatalf("Lock of another stand: got ok %v, err %v, want acquired", ok, err)
			}

			steps := []struct {
				name         string
				pub          Publication
				wantAccepted bool
				wantVersion  uint64
			}{
				{"first publication", testPublication(5, f1, at), true, 5},
				{"same fence, same version", testPublication(5, f1, at.Add(time.Second)), true, 5},
				{"same fence, older version", testPublication(4, f1, at), false, 5},
				{"same fence, newer version", testPublication(6, f1, at), true, 6},
			}
			for _, step := range steps {
				got, err := s.Publish(ctx, ev, st, step.pub)
				if err != nil || got != step.wantAccepted {
					t.Fatalf("%s: Publish got accepted %v, err %v, want %v", step.name, got, err, step.wantAccepted)
				}
				p, ok, err := s.Published(ctx, ev, st)
				if err != nil || !ok || p.Snapshot.Version != step.wantVersion {
					t.Fatalf("%s: Published got version %d, ok %v, err %v, want %d", step.name, p.Snapshot.Version, ok, err, step.wantVersion)
				}
			}
			p, _, _ := s.Published(ctx, ev, st)
			if want := testPublication(6, f1, at); !publicationsEqual(p, want) {
				t.Errorf("Published got %+v, want %+v", p, want)
			}

			// Compare and delete: only the owner's fence releases the lock.
			if ok, err := s.Unlock(ctx, ev, st, f1+100); err != nil || ok {
				t.Fatalf("Unlock with another fence: got %v, %v, want not released", ok, err)
			}
			if _, ok, _ := s.Lock(ctx, ev, st, impl.lease); ok {
				t.Fatal("Lock after a stranger's Unlock: got acquired, want busy")
			}
			if ok, err := s.Unlock(ctx, ev, st, f1); err != nil || !ok {
				t.Fatalf("Unlock by the owner: got %v, %v, want released", ok, err)
			}
			if ok, err := s.Unlock(ctx, ev, st, f1); err != nil || ok {
				t.Fatalf("second Unlock by the owner: got %v, %v, want not released", ok, err)
			}

			// A paused holder: f2 took over after f1's lease; f1's late
			// publication is refused even with a newer version.
			f2, ok, err := s.Lock(ctx, ev, st, impl.lease)
			if err != nil || !ok || f2 <= f1 {
				t.Fatalf("Lock after release: got fence %d, ok %v, err %v, want one above %d", f2, ok, err, f1)
			}
			impl.expire(t, ev, st)
			if ok, _ := s.Unlock(ctx, ev, st, f2); ok {
				t.Error("Unlock after the lease ended: got released, want not (the lease ended it)")
			}
			f3, ok, err := s.Lock(ctx, ev, st, impl.lease)
			if err != nil || !ok || f3 <= f2 {
				t.Fatalf("Lock after the lease ended: got fence %d, ok %v, err %v, want one above %d", f3, ok, err, f2)
			}
			if ok, err := s.Publish(ctx, ev, st, testPublication(7, f3, at)); err != nil || !ok {
				t.Fatalf("Publish by the new holder: got %v, %v, want accepted", ok, err)
			}
			if ok, err := s.Publish(ctx, ev, st, testPublication(9, f2, at)); err != nil || ok {
				t.Fatalf("late Publish by the paused holder: got %v, %v, want refused", ok, err)
			}
			if p, _, _ := s.Published(ctx, ev, st); p.Snapshot.Version != 7 || p.Fence != f3 {
				t.Errorf("after the late publish: got version %d fence %d, want 7 and %d", p.Snapshot.Version, p.Fence, f3)
			}

			if impl.loseFence != nil {
				impl.expire(t, ev, st)
				impl.loseFence(t, ev, st)
				f4, ok, err := s.Lock(ctx, ev, st, impl.lease)
				if err != nil || !ok || f4 <= f3 {
					t.Fatalf("Lock after the fence counter was lost: got %d, %v, %v, want above the publication's %d", f4, ok, err, f3)
				}
				if ok, _ := s.Publish(ctx, ev, st, testPublication(8, f4, at)); !ok {
					t.Error("Publish after the fence counter was lost: refused, want accepted")
				}
			}
		})
	}
}

func publicationsEqual(a, b Publication) bool {
	return a.Fence == b.Fence && a.PublishedAt.Equal(b.PublishedAt) &&
		a.Snapshot.Version == b.Snapshot.Version && a.Snapshot.At.Equal(b.Snapshot.At) &&
		slices.Equal(a.Snapshot.Status, b.Snapshot.Status) && slices.Equal(a.Snapshot.Tiers, b.Snapshot.Tiers)
}

func TestSharedRedisKeysAndRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	rs := NewRedisShared(client, RedisSharedOptions{})
	pub, lock, fence := rs.Keys("final", "north")
	for _, tc := range []struct{ got, want string }{
		{pub, "seat:{ev:final:st:north}:pub"},
		{lock, "seat:{ev:final:st:north}:lock"},
		{fence, "seat:{ev:final:st:north}:fence"},
	} {
		if tc.got != tc.want {
			t.Errorf("key: got %q, want %q", tc.got, tc.want)
		}
	}
	ctx := context.Background()
	f, _, err := rs.Lock(ctx, "final", "north", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, lock).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("lock PTTL: got %v, want within the 2s lease", ttl)
	}
	if _, err := rs.Publish(ctx, "final", "north", testPublication(3, f, time.Now())); err != nil {
		t.Fatal(err)
	}
	before := srv.CommandStats(t)
	if _, ok, err := rs.Published(ctx, "final", "north"); err != nil || !ok {
		t.Fatalf("Published: %v, %v", ok, err)
	}
	after := srv.CommandStats(t)
	if got := after["hget"] - before["hget"]; got != 1 {
		t.Errorf("Published: got %d HGET, want 1 round trip", got)
	}
	if _, _, err := rs.Lock(ctx, "fi{nal", "north", time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("Lock of an event with a brace: got %v, want ErrInvalid", err)
	}
}

func TestSharedRedisUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	rs := NewRedisShared(client, RedisSharedOptions{Prefix: "other"})
	client.Close()
	ctx := context.Background()
	if _, _, err := rs.Published(ctx, "e", "s"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Published on a closed client: got %v, want ErrUnavailable", err)
	}
	if _, _, err := rs.Lock(ctx, "e", "s", time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lock on a closed client: got %v, want ErrUnavailable", err)
	}
}

func TestSharedPublicationEncoding(t *testing.T) {
	at := time.Date(2030, 5, 1, 19, 0, 0, 0, time.UTC)
	big := testPublication(1<<40, 1<<33, at)
	big.Snapshot.Status = make([]byte, 25000)
	big.Snapshot.Tiers = make([]TierCount, 12)
	noAt := testPublication(1, 1, at)
	noAt.Snapshot.At = time.Time{}
	for _, tc := range []struct {
		name string
		p    Publication
	}{
		{"small", testPublication(5, 2, at)},
		{"100,000 seats", big},
		{"no snapshot time", noAt},
		{"empty stand", Publication{PublishedAt: at, Fence: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := appendPublication(nil, tc.p)
			got, err := decodePublication(b)
			if err != nil {
				t.Fatal(err)
			}
			if !publicationsEqual(got, tc.p) {
				t.Errorf("round trip: got %+v, want %+v", got, tc.p)
			}
			for i := range len(b) - 1 {
				if _, err := decodePublication(b[:i]); err == nil {
					t.Fatalf("decoding %d of %d bytes: got no error", i, len(b))
				}
			}
		})
	}
}

func FuzzSharedPublication(f *testing.F) {
	f.Add(appendPublication(nil, testPublication(5, 2, time.Now())))
	f.Add([]byte{publicationFormat, 1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePublication(b)
		if err != nil {
			return
		}
		again, err := decodePublication(appendPublication(nil, p))
		if err != nil || !publicationsEqual(again, p) {
			t.Fatalf("re-encoding a decoded publication: got %+v, %v, want %+v", again, err, p)
		}
	})
}

// cacheStalledAuthority is an authority whose read stalls, ignoring its
// context as a paused process would, until released.
type cacheStalledAuthority struct {
	snap    StandSnapshot
	once    sync.Once
	entered chan struct{} // closed when the read has begun
	release chan struct{} // closed by the test to let the read return
}

func (a *cacheStalledAuthority) Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error) {
	a.once.Do(func() { close(a.entered) })
	<-a.release
	return a.snap, nil
}

// cacheCounter reads a counter.
func cacheCounter(t *testing.T, c prometheus.Counter) int {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return int(m.GetCounter().GetValue())
}

func TestLockHolderKilledMidRefresh(t *testing.T) {
	srv := redistest.Start(t)
	const lease = 400 * time.Millisecond
	cfg := CacheConfig{Interval: 100 * time.Millisecond, LockLease: lease, RetryInterval: 10 * time.Millisecond, PassThrough: -1}
	const ev, st = "final", "north"

	stalled := &cacheStalledAuthority{
		snap:    StandSnapshot{Stand: st, Version: 7, Status: []byte{0}, Tiers: []TierCount{{Free: 4}}},
		entered: make(chan struct{}), release: make(chan struct{}),
	}
	a, err := NewStandCache(cfg, stalled, NewRedisShared(srv.Client(t), RedisSharedOptions{}), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bAuth := &cacheFakeAuthority{seats: 4, version: 7}
	b, err := NewStandCache(cfg, bAuth, NewRedisShared(srv.Client(t), RedisSharedOptions{}), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	defer a.Close()

	type result struct {
		v   StandView
		err error
	}
	aDone := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		v, err := a.Get(ctx, ev, st)
		aDone <- result{v, err}
	}()
	select {
	case <-stalled.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("process A never read the authoritative store")
	}
	if got := cacheCounter(t, a.m.lockAcquired); got != 1 {
		t.Fatalf("A's lock acquisitions: got %d, want 1", got)
	}

	// A holds the lock and stalls. B waits out A's lease, takes over and
	// publishes.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vb, err := b.Get(ctx, ev, st)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("B's Get while A stalls: %v", err)
	}
	t.Logf("B took over after %v (lease %v), lock busy %d times", took, lease, cacheCounter(t, b.m.lockBusy))
	if vb.Snapshot.Version != 8 || vb.Source != SourceAuthority || vb.Stale {
		t.Errorf("B's view: got version %d from %s stale %v, want version 8 from the authority, fresh", vb.Snapshot.Version, vb.Source, vb.Stale)
	}
	if took > lease+time.Second {
		t.Errorf("B took over after %v, want within the lease %v (plus slack)", took, lease)
	}
	if got := cacheCounter(t, b.m.lockBusy); got < 1 {
		t.Errorf("B's busy lock attempts: got %d, want at least 1 (A held the lock)", got)
	}
	if got := cacheCounter(t, b.m.refreshPublished); got != 1 {
		t.Errorf("B's published refreshes: got %d, want 1", got)
	}

	// A wakes up with older data and a smaller fence: refused.
	close(stalled.release)
	ra := <-aDone
	if ra.err != nil {
		t.Fatalf("A's Get: %v", ra.err)
	}
	if got := cacheCounter(t, a.m.refreshRefused); got != 1 {
		t.Errorf("A's refused publications: got %d, want 1", got)
	}
	if got := cacheCounter(t, a.m.refreshPublished); got != 0 {
		t.Errorf("A's accepted publications: got %d, want 0", got)
	}
	if ra.v.Snapshot.Version != 8 {
		t.Errorf("A's view after the refusal: got version %d, want the published 8", ra.v.Snapshot.Version)
	}
	p, ok, err := NewRedisShared(srv.Client(t), RedisSharedOptions{}).Published(context.Background(), ev, st)
	if err != nil || !ok || p.Snapshot.Version != 8 || p.Fence != 2 {
		t.Errorf("published copy: got version %d fence %d (ok %v, err %v), want version 8 fence 2", p.Snapshot.Version, p.Fence, ok, err)
	}
}
