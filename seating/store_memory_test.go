package seating_test

import (
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
