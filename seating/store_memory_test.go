package seating_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foyerhq/foyer/seating"
	"github.com/foyerhq/foyer/seating/seatingtest"
)

func TestMemoryConformance(t *testing.T) {
	seatingtest.Run(t, seatingtest.Harness{
		New: func(t *testing.T, now func() time.Time, logSize int) seating.Store {
			return seating.NewMemoryWithOptions(seating.MemoryOptions{Now: now, LogSize: logSize})
		},
	})
}

// TestMemoryRealClock checks the default clock: a hold expires after its
// TTL of wall time.
func TestMemoryRealClock(t *testing.T) {
	m := seating.NewMemory(nil)
	ctx := t.Context()
	if err := m.Prepare(ctx, seatingtest.Event, seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	h, err := m.Hold(ctx, seatingtest.Event, "B", seating.HoldRequest{Owner: "alice", Seats: []int{1}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := before.Add(time.Minute-time.Millisecond), time.Now().Add(time.Minute); h.ExpiresAt.Before(lo) || h.ExpiresAt.After(hi) {
		t.Errorf("expiry got %v, want between %v and %v", h.ExpiresAt, lo, hi)
	}
}

// BenchmarkMemoryHold is BenchmarkRedisHold on the memory store: explicit
// holds of 1 to 4 adjacent seats at random places of a 100,000-seat venue.
func BenchmarkMemoryHold(b *testing.B) {
	m := seating.NewMemory(nil)
	ctx := b.Context()
	layouts := storeBenchLayouts()
	venues := max(1, (b.N*5/2+10_000-1)/10_000)
	events := make([]string, venues)
	for v := range events {
		events[v] = fmt.Sprint("bench", v)
		if err := m.Prepare(ctx, events[v], layouts); err != nil {
			b.Fatal(err)
		}
	}
	var holds atomic.Int64
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 5))
		seats := make([]int, 0, 4)
		for pb.Next() {
			v, st, n := rng.IntN(venues), rng.IntN(len(layouts)), 1+rng.IntN(4)
			first := rng.IntN(2_500 - n + 1)
			seats = seats[:0]
			for i := range n {
				seats = append(seats, first+i)
			}
			_, err := m.Hold(ctx, events[v], layouts[st].ID, seating.HoldRequest{Owner: "fan", Seats: seats, TTL: time.Hour})
			if err == nil {
				holds.Add(1)
			} else if !errors.Is(err, seating.ErrConflict) {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(holds.Load())/b.Elapsed().Seconds(), "holds/s")
}
