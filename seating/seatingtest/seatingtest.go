// Package seatingtest is the conformance suite of seating.Store: every store
// runs it, so the memory and Redis stores keep one meaning. Stores are
// given a Clock the suite moves by hand, so expiry is tested to the
// millisecond without waiting.
package seatingtest

import (
	"context"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/testclock"
	"github.com/foyerhq/foyer/seating"
)

// Harness is how the suite makes and observes stores.
type Harness struct {
	// New returns an empty store timed by now, whose stands keep logSize
	// changes in their change logs (0: the default).
	New func(t *testing.T, now func() time.Time, logSize int) seating.Store
	// Calls, when set, returns how many commands the store's backend has
	// run so far, so the suite can check that invalid input costs none.
	Calls func(t *testing.T) int64
}

// Dumper is a store that reads a stand whole in one atomic step; both
// stores of package seating are.
type Dumper interface {
	Dump(ctx context.Context, event, stand string) (seating.StandDump, error)
}

// Clock is a clock moved by hand (internal/testclock); stores under test
// are timed by it.
type Clock = testclock.Clock

// NewClock returns a clock at a fixed instant, whole in milliseconds.
func NewClock() *Clock { return testclock.New(time.UnixMilli(1_700_000_000_000)) }

// Event is the event the suite prepares.
const Event = "show"

// Layouts returns the stands the suite prepares: stand A has three rows of
// ten seats, row 0 of tier 0 with seat 9 blocked, row 1 of tier 1, row 2
// half tier 0 (20-24), half tier 1 (25-29); stand B has two rows of eight
// seats of tier 0; stand C has twenty rows of four seats of tier 0, the
// last seat of each blocked but in row 19.
func Layouts() []seating.StandLayout {
	a := seating.StandLayout{ID: "A", TierCount: 2, Blocked: []int{9}, Rows: []int{0, 10, 20}}
	for i := range 30 {
		t := uint8(0)
		if i >= 10 && i < 20 || i >= 25 {
			t = 1
		}
		a.Tiers = append(a.Tiers, t)
	}
	b := seating.StandLayout{ID: "B", TierCount: 1, Tiers: make([]uint8, 16), Rows: []int{0, 8}}
	c := seating.StandLayout{ID: "C", TierCount: 1, Tiers: make([]uint8, 80)}
	for r := range 20 {
		c.Rows = append(c.Rows, 4*r)
		if r < 19 {
			c.Blocked = append(c.Blocked, 4*r+3)
		}
	}
	return []seating.StandLayout{a, b, c}
}

// ttl is the TTL of the suite's holds.
const ttl = 10 * time.Second

// env is one subtest's store and clock.
type env struct {
	t     *testing.T
	s     seating.Store
	clock *Clock
	h     Harness
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name    string
		logSize int
		run     func(e *env)
	}{
		{"HoldAndConflict", 0, testHoldAndConflict},
		{"AllOrNothing", 0, testAllOrNothing},
		{"BestAvailable", 0, testBestAvailable},
		{"BestAvailableBounded", 0, testBestAvailableBounded},
		{"Extend", 0, testExtend},
		{"Release", 0, testRelease},
		{"Confirm", 0, testConfirm},
		{"ExpiryExact", 0, testExpiryExact},
		{"ReclaimExpired", 0, testReclaimExpired},
		{"MaxSeats", 0, testMaxSeats},
		{"SnapshotCounts", 0, testSnapshotCounts},
		{"Versions", 0, testVersions},
		{"ChangeLog", 8, testChangeLog},
		{"PrepareIdempotent", 0, testPrepareIdempotent},
		{"NotPrepared", 0, testNotPrepared},
		{"InvalidInput", 0, testInvalidInput},
		{"IdempotencyKey", 0, testIdempotencyKey},
		{"RepeatsLeaveSameState", 0, testRepeatsLeaveSameState},
		{"OneWinnerPerSeat", 0, testOneWinnerPerSeat},
		{"Ping", 0, func(e *env) {
			if err := e.s.Ping(e.t.Context()); err != nil {
				e.t.Errorf("Ping got %v, want nil", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock()
			e := &env{t: t, s: h.New(t, clock.Now, tt.logSize), clock: clock, h: h}
			if err := e.s.Prepare(t.Context(), Event, Layouts()); err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			tt.run(e)
			e.check()
		})
	}
}

// check verifies every invariant of both stands, when the store dumps.
func (e *env) check() {
	e.t.Helper()
	d, ok := e.s.(Dumper)
	if !ok {
		return
	}
	for _, l := range Layouts() {
		dump, err := d.Dump(e.t.Context(), Event, l.ID)
		if err != nil {
			e.t.Fatalf("Dump %s: %v", l.ID, err)
		}
		if err := CheckInvariants(dump, l); err != nil {
			e.t.Errorf("stand %s: %v", l.ID, err)
		}
	}
}

func (e *env) hold(stand, owner string, seats ...int) (seating.Hold, error) {
	return e.s.Hold(e.t.Context(), Event, stand, seating.HoldRequest{Owner: owner, Seats: seats, TTL: ttl})
}

func (e *env) mustHold(stand, owner string, seats ...int) seating.Hold {
	e.t.Helper()
	h, err := e.hold(stand, owner, seats...)
	if err != nil {
		e.t.Fatalf("Hold %s %v for %s: %v", stand, seats, owner, err)
	}
	return h
}

func (e *env) snapshot(stand string) seating.StandSnapshot {
	e.t.Helper()
	s, err := e.s.Snapshot(e.t.Context(), Event, stand)
	if err != nil {
		e.t.Fatalf("Snapshot %s: %v", stand, err)
	}
	return s
}

// statuses returns the statuses of seats of a stand.
func (e *env) statuses(stand string, seats ...int) []seating.Status {
	e.t.Helper()
	snap := e.snapshot(stand)
	out := make([]seating.Status, len(seats))
	for i, s := range seats {
		out[i] = statusAt(snap.Status, s)
	}
	return out
}
