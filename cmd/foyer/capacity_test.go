package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foyerhq/foyer/seating"
)

// countingStore is the real memory store counting the holds it is asked to
// decide at once, to see what the capacity model lets through.
type countingStore struct {
	seating.Store
	now, peak atomic.Int64
}

func (c *countingStore) Hold(ctx context.Context, event, stand string, req seating.HoldRequest) (seating.Hold, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	// Stay inside long enough for holds let through together to overlap.
	time.Sleep(5 * time.Millisecond)
	return c.Store.Hold(ctx, event, stand, req)
}

func newModelVenue(t *testing.T) (seating.Store, []seating.StandLayout) {
	t.Helper()
	venue, err := seating.Generate(seating.GenerateConfig{Seats: 400, Stands: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mem := seating.NewMemory(nil)
	layouts := venue.Layouts()
	if err := mem.Prepare(context.Background(), "show", layouts); err != nil {
		t.Fatal(err)
	}
	return mem, layouts
}

// TestCapacityModelBoundsHolds: with W workers and a cost C, at most W holds
// reach the store at once, and N holds take at least ⌈N/W⌉ × C.
func TestCapacityModelBoundsHolds(t *testing.T) {
	mem, layouts := newModelVenue(t)
	counting := &countingStore{Store: mem}
	const workers, holds, cost = 2, 6, 20 * time.Millisecond
	store := capacityModel{HoldCost: duration(cost), Workers: workers}.wrap(counting)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, holds)
	for i := range holds {
		wg.Go(func() {
			_, errs[i] = store.Hold(context.Background(), "show", layouts[0].ID, seating.HoldRequest{
				Owner: "fan" + string(rune('a'+i)), Seats: []int{i}, TTL: time.Minute, MaxSeats: 4,
			})
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Errorf("hold %d: %v", i, err)
		}
	}
	if got := counting.peak.Load(); got > workers {
		t.Errorf("holds at the store at once: got %d, want at most %d", got, workers)
	}
	if want := holds / workers * cost; elapsed < want {
		t.Errorf("%d holds on %d workers of %v took %v, want at least %v", holds, workers, cost, elapsed, want)
	}
}

// TestCapacityModelTimeout: a hold that finds every worker busy until its
// deadline fails as a store timeout does, not as a conflict, and never
// reaches the store.
func TestCapacityModelTimeout(t *testing.T) {
	mem, layouts := newModelVenue(t)
	counting := &countingStore{Store: mem}
	store := capacityModel{HoldCost: duration(time.Second), Workers: 1}.wrap(counting)
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		store.Hold(ctx, "show", layouts[0].ID, seating.HoldRequest{Owner: "a", Seats: []int{0}, TTL: time.Minute, MaxSeats: 4})
	}()
	// The first hold takes the only worker at once (the model's slot
	// channel has room for one); wait until it has.
	cs := store.(*costlyStore)
	deadline := time.Now().Add(5 * time.Second)
	for len(cs.slots) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first hold never took the worker")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := store.Hold(ctx, "show", layouts[0].ID, seating.HoldRequest{Owner: "b", Seats: []int{1}, TTL: time.Minute, MaxSeats: 4})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, seating.ErrConflict) {
		t.Errorf("hold with no worker free: got %v, want a deadline error", err)
	}
	<-busy
	if got := counting.peak.Load(); got != 0 {
		t.Errorf("holds that reached the store: got %d, want 0 (both timed out in the model)", got)
	}
}

func TestCapacityModelValidate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         capacityModel
		wantField string
		wantRate  float64
	}{
		{"off", capacityModel{}, "", 0},
		{"on", capacityModel{HoldCost: duration(50 * time.Millisecond), Workers: 10}, "", 200},
		{"cost without workers", capacityModel{HoldCost: duration(time.Millisecond)}, "capacity_model.workers", 0},
		{"workers without cost", capacityModel{Workers: 3}, "capacity_model.hold_cost", 0},
		{"negative cost", capacityModel{HoldCost: -1, Workers: 1}, "capacity_model.hold_cost", 0},
		{"negative workers", capacityModel{HoldCost: 1, Workers: -1}, "capacity_model.workers", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, _ := tc.m.validate()
			if field != tc.wantField {
				t.Errorf("field: got %q, want %q", field, tc.wantField)
			}
			if tc.wantField == "" {
				if got := tc.m.holdsPerSecond(); got != tc.wantRate {
					t.Errorf("holds per second: got %v, want %v", got, tc.wantRate)
				}
			}
		})
	}
	mem := seating.NewMemory(nil)
	if got := (capacityModel{}).wrap(mem); got != seating.Store(mem) {
		t.Error("the model off wraps the store; want the store itself")
	}
}
