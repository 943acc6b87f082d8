package seatingtest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/foyerhq/foyer/seating"
)

// The cases of the suite, in the order Run lists them.

func repeat(s seating.Status, n int) []seating.Status {
	out := make([]seating.Status, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func testHoldAndConflict(e *env) {
	t := e.t
	h := e.mustHold("A", "alice", 2, 0, 1)
	if want := []int{0, 1, 2}; !slices.Equal(h.Seats, want) || h.Owner != "alice" || h.Stand != "A" ||
		h.State != seating.HoldActive || !h.ExpiresAt.Equal(e.clock.Now().Add(ttl)) || h.Version != 1 || !strings.HasPrefix(h.ID, "A.") {
		t.Errorf("Hold got %+v, want seats %v of A for alice, active, expiring in %v, version 1", h, want, ttl)
	}
	tests := []struct {
		name      string
		seats     []int
		wantTaken []int
	}{
		{"OneTaken", []int{2, 3}, []int{2}},
		{"AllTaken", []int{0, 1, 2}, []int{0, 1, 2}},
		{"Blocked", []int{8, 9}, []int{9}},
	}
	for _, tt := range tests {
		_, err := e.hold("A", "bob", tt.seats...)
		var ce *seating.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, seating.ErrConflict) || !slices.Equal(ce.Taken, tt.wantTaken) || ce.Version != 1 {
			t.Errorf("%s: Hold %v got %v, want a conflict on %v at version 1", tt.name, tt.seats, err, tt.wantTaken)
		}
	}
	if got := e.mustHold("A", "bob", 3, 4); !slices.Equal(got.Seats, []int{3, 4}) || got.Version != 2 || got.ID == h.ID {
		t.Errorf("Hold 3 4 got %+v, want seats 3 4 at version 2", got)
	}
	if got, want := e.statuses("A", 0, 1, 2, 3, 4, 5, 9), []seating.Status{1, 1, 1, 1, 1, 0, 3}; !slices.Equal(got, want) {
		t.Errorf("statuses got %v, want %v", got, want)
	}
}

func testAllOrNothing(e *env) {
	e.mustHold("A", "alice", 5)
	before := e.snapshot("A")
	if _, err := e.hold("A", "bob", 3, 4, 5, 6); !errors.Is(err, seating.ErrConflict) {
		e.t.Fatalf("got %v, want a conflict", err)
	}
	if after := e.snapshot("A"); !reflect.DeepEqual(after.Status, before.Status) || after.Version != before.Version ||
		!reflect.DeepEqual(after.Tiers, before.Tiers) {
		e.t.Errorf("a conflicting hold changed the stand: got version %d counts %v, want %d %v",
			after.Version, after.Tiers, before.Version, before.Tiers)
	}
}

func testBestAvailable(e *env) {
	best := func(owner string, tier, q int) ([]int, error) {
		h, err := e.s.Hold(e.t.Context(), Event, "A", seating.HoldRequest{Owner: owner, Tier: tier, Quantity: q, TTL: ttl})
		return h.Seats, err
	}
	// Row 0 (tier 0): seats 0-8, 9 blocked. Row 2: 20-24 tier 0.
	steps := []struct {
		name    string
		explict []int // held first, explicitly
		tier, q int
		want    []int
		wantErr error
	}{
		{"FirstRowFromItsStart", nil, 0, 3, []int{0, 1, 2}, nil},
		{"TierRespected", nil, 1, 2, []int{10, 11}, nil},
		// Row 0 is now 3-8 (6 free): 4 seats leave 2, no orphan.
		{"NoOrphanInRun", nil, 0, 4, []int{3, 4, 5, 6}, nil},
		// Row 0 has 7-8 left: one seat there would strand the other, so
		// row 2 (20-24) is taken from its start, leaving four.
		{"AvoidsStrandingOne", nil, 0, 1, []int{20}, nil},
		{"ExactFit", nil, 0, 2, []int{7, 8}, nil},
		// Tier 0 has 21-24 left: one seat leaves three.
		{"LeavesThree", nil, 0, 1, []int{21}, nil},
		// 22-24: a pair must strand one; it is the only choice.
		{"StrandsWhenNoChoice", nil, 0, 2, []int{22, 23}, nil},
		{"TooManyForTier", nil, 0, 2, nil, seating.ErrNoSeats},
		// Row 1 keeps 13-14, 16-17 and 19 free: no three adjacent.
		{"NoAdjacentBlock", []int{12, 15, 18}, 1, 3, []int{25, 26, 27}, nil},
		{"NothingLeft", nil, 1, 5, nil, seating.ErrNoSeats},
		{"MaxQuantityNoRoom", nil, 1, 16, nil, seating.ErrNoSeats},
	}
	for _, st := range steps {
		if st.explict != nil {
			e.mustHold("A", "x", st.explict...)
		}
		got, err := best("fan", st.tier, st.q)
		if !errors.Is(err, st.wantErr) || !slices.Equal(got, st.want) {
			e.t.Errorf("%s: best %d of tier %d got %v, %v, want %v, %v", st.name, st.q, st.tier, got, err, st.want, st.wantErr)
		}
	}
	if _, err := best("fan", 2, 1); !errors.Is(err, seating.ErrInvalid) {
		e.t.Errorf("tier 2 of 2: got %v, want ErrInvalid", err)
	}
}

// testBestAvailableBounded shows the bounds of the scan on stand C: rows
// 0-18 have three free seats, row 19 four.
func testBestAvailableBounded(e *env) {
	steps := []struct {
		name string
		q    int
		want []int
	}{
		// Row 0 strands a seat; the next rows (the stores look 8 further)
		// bring nothing better, so row 19's perfect fit is never reached.
		{"FallbackAfterLookahead", 2, []int{0, 1}},
		// Row 0 has one seat left: scanned once more, then skipped.
		{"NextFallback", 2, []int{4, 5}},
		// Rows 0-18 are known too short for 4 and skipped unscanned.
		{"SkipsShortRows", 4, []int{76, 77, 78, 79}},
		// No row fits 4 any more; the tier's bound then says so at once.
		{"NoRowFits", 4, nil},
		{"NoRowFitsAgain", 4, nil},
		// Row 1 has one seat left; row 2 fits 3 exactly.
		{"SmallerStillFits", 3, []int{8, 9, 10}},
	}
	for _, st := range steps {
		h, err := e.s.Hold(e.t.Context(), Event, "C", seating.HoldRequest{Owner: "fan", Quantity: st.q, TTL: ttl})
		var wantErr error
		if st.want == nil {
			wantErr = seating.ErrNoSeats
		}
		if !errors.Is(err, wantErr) || !slices.Equal(h.Seats, st.want) {
			e.t.Errorf("%s: best %d got %v, %v, want %v, %v", st.name, st.q, h.Seats, err, st.want, wantErr)
		}
	}
}

func testExtend(e *env) {
	t, ctx := e.t, e.t.Context()
	start := e.clock.Now()
	h := e.mustHold("A", "alice", 0, 1)
	e.clock.Add(5 * time.Second)
	steps := []struct {
		name          string
		owner         string
		ttl, maxTotal time.Duration
		wantExp       time.Time
		wantErr       error
	}{
		{"Capped", "alice", ttl, 12 * time.Second, start.Add(12 * time.Second), nil},
		{"NeverShortens", "alice", time.Second, time.Hour, start.Add(12 * time.Second), nil},
		{"WithinCap", "alice", 9 * time.Second, time.Hour, start.Add(14 * time.Second), nil},
		{"OtherOwner", "bob", ttl, time.Hour, time.Time{}, seating.ErrNotOwner},
	}
	for _, st := range steps {
		got, err := e.s.Extend(ctx, Event, h.ID, st.owner, st.ttl, st.maxTotal)
		if !errors.Is(err, st.wantErr) || err == nil && (!got.ExpiresAt.Equal(st.wantExp) || got.Version != 1 || !slices.Equal(got.Seats, h.Seats)) {
			t.Errorf("%s: got %+v, %v, want expiry %v at version 1, error %v", st.name, got, err, st.wantExp, st.wantErr)
		}
	}
	if _, err := e.s.Extend(ctx, Event, "A.AAAAAAAAAAAAAAAA", "alice", ttl, time.Hour); !errors.Is(err, seating.ErrHoldNotFound) {
		t.Errorf("unknown hold: got %v, want ErrHoldNotFound", err)
	}
	e.clock.Set(start.Add(14 * time.Second))
	if _, err := e.s.Extend(ctx, Event, h.ID, "alice", ttl, time.Hour); !errors.Is(err, seating.ErrExpired) {
		t.Errorf("at expiry: got %v, want ErrExpired", err)
	}
	if _, err := e.s.Extend(ctx, Event, h.ID, "alice", ttl, time.Hour); !errors.Is(err, seating.ErrHoldNotFound) {
		t.Errorf("after expiry: got %v, want ErrHoldNotFound", err)
	}
	if got := e.statuses("A", 0, 1); !slices.Equal(got, repeat(seating.Free, 2)) {
		t.Errorf("seats of the expired hold got %v, want free", got)
	}
	c := e.mustHold("A", "alice", 2)
	if _, err := e.s.Confirm(ctx, Event, c.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Extend(ctx, Event, c.ID, "alice", ttl, time.Hour); !errors.Is(err, seating.ErrConfirmed) {
		t.Errorf("confirmed: got %v, want ErrConfirmed", err)
	}
}

func testRelease(e *env) {
	t, ctx := e.t, e.t.Context()
	h := e.mustHold("A", "alice", 0, 1)
	if v, err := e.s.Release(ctx, Event, h.ID, "bob"); !errors.Is(err, seating.ErrNotOwner) || v != 1 {
		t.Errorf("by another: got %d, %v, want 1, ErrNotOwner", v, err)
	}
	steps := []struct {
		name string
		id   string
		want uint64
	}{
		{"Release", h.ID, 2},
		{"Again", h.ID, 2},
		{"Unknown", "A.AAAAAAAAAAAAAAAA", 2},
	}
	for _, st := range steps {
		v, err := e.s.Release(ctx, Event, st.id, "alice")
		if err != nil || v != st.want {
			t.Errorf("%s: got %d, %v, want %d, nil", st.name, v, err, st.want)
		}
	}
	if got := e.statuses("A", 0, 1); !slices.Equal(got, repeat(seating.Free, 2)) {
		t.Errorf("after release got %v, want free", got)
	}
	c := e.mustHold("A", "alice", 0)
	if _, err := e.s.Confirm(ctx, Event, c.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Release(ctx, Event, c.ID, "alice"); !errors.Is(err, seating.ErrConfirmed) || !errors.Is(err, seating.ErrInvalid) {
		t.Errorf("confirmed: got %v, want ErrConfirmed (and ErrInvalid)", err)
	}
	x := e.mustHold("A", "alice", 5)
	e.clock.Add(ttl)
	if v, err := e.s.Release(ctx, Event, x.ID, "alice"); err != nil || v != x.Version+1 {
		t.Errorf("expired: got %d, %v, want %d, nil", v, err, x.Version+1)
	}
	if got := e.statuses("A", 0, 5); !slices.Equal(got, []seating.Status{seating.Sold, seating.Free}) {
		t.Errorf("got %v, want sold, free", got)
	}
}

func testConfirm(e *env) {
	t, ctx := e.t, e.t.Context()
	h := e.mustHold("A", "alice", 3, 4)
	if _, err := e.s.Confirm(ctx, Event, h.ID, "bob"); !errors.Is(err, seating.ErrNotOwner) {
		t.Errorf("by another: got %v, want ErrNotOwner", err)
	}
	if _, err := e.s.Confirm(ctx, Event, "A.AAAAAAAAAAAAAAAA", "alice"); !errors.Is(err, seating.ErrHoldNotFound) {
		t.Errorf("unknown: got %v, want ErrHoldNotFound", err)
	}
	first, err := e.s.Confirm(ctx, Event, h.ID, "alice")
	want := h
	want.State, want.Version = seating.HoldConfirmed, 2
	if err != nil || !reflect.DeepEqual(first, want) {
		t.Errorf("Confirm got %+v, %v, want %+v", first, err, want)
	}
	e.mustHold("A", "bob", 5)
	e.clock.Add(time.Hour)
	if again, err := e.s.Confirm(ctx, Event, h.ID, "alice"); err != nil || !reflect.DeepEqual(again, first) {
		t.Errorf("Confirm again got %+v, %v, want %+v", again, err, first)
	}
	if got := e.statuses("A", 3, 4); !slices.Equal(got, repeat(seating.Sold, 2)) {
		t.Errorf("got %v, want sold", got)
	}
	if _, err := e.hold("A", "carol", 4); !errors.Is(err, seating.ErrConflict) {
		t.Errorf("hold of a sold seat: got %v, want a conflict", err)
	}
}

func testExpiryExact(e *env) {
	tests := []struct {
		name    string
		at      time.Duration
		wantErr error
	}{
		{"OneMsBefore", ttl - time.Millisecond, nil},
		{"AtExpiry", ttl, seating.ErrExpired},
		{"OneMsAfter", ttl + time.Millisecond, seating.ErrExpired},
	}
	for i, tt := range tests {
		t, ctx := e.t, e.t.Context()
		seat := 10 + i
		start := e.clock.Now()
		h := e.mustHold("A", "alice", seat)
		if !h.ExpiresAt.Equal(start.Add(ttl)) {
			t.Errorf("%s: expiry got %v, want %v", tt.name, h.ExpiresAt, start.Add(ttl))
		}
		e.clock.Set(start.Add(tt.at))
		_, err := e.s.Confirm(ctx, Event, h.ID, "alice")
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Confirm got %v, want %v", tt.name, err, tt.wantErr)
		}
		wantStatus := seating.Sold
		if tt.wantErr != nil {
			wantStatus = seating.Free
			// The expired seat is holdable at once.
			if _, err := e.hold("A", "bob", seat); err != nil {
				t.Errorf("%s: hold of the expired seat got %v, want nil", tt.name, err)
			}
			wantStatus = seating.Held
		}
		if got := e.statuses("A", seat); got[0] != wantStatus {
			t.Errorf("%s: seat %d got %v, want %v", tt.name, seat, got[0], wantStatus)
		}
	}
}

func testReclaimExpired(e *env) {
	t, ctx := e.t, e.t.Context()
	start := e.clock.Now()
	h := e.mustHold("A", "alice", 0, 1, 2)
	e.clock.Set(start.Add(ttl - time.Millisecond))
	if _, err := e.hold("A", "bob", 2, 3); !errors.Is(err, seating.ErrConflict) {
		t.Fatalf("1 ms before expiry: got %v, want a conflict", err)
	}
	e.clock.Set(start.Add(ttl))
	b := e.mustHold("A", "bob", 2, 3)
	if b.Version != h.Version+1 {
		t.Errorf("reclaim and hold got version %d, want %d: one step", b.Version, h.Version+1)
	}
	if got, want := e.statuses("A", 0, 1, 2, 3), []seating.Status{0, 0, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v: every seat of the expired hold freed", got, want)
	}
	if _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); !errors.Is(err, seating.ErrHoldNotFound) {
		t.Errorf("confirm of the reclaimed hold: got %v, want ErrHoldNotFound", err)
	}
}

func testMaxSeats(e *env) {
	t, ctx := e.t, e.t.Context()
	hold := func(owner string, seats ...int) (seating.Hold, error) {
		return e.s.Hold(ctx, Event, "A", seating.HoldRequest{Owner: owner, Seats: seats, TTL: ttl, MaxSeats: 4})
	}
	steps := []struct {
		name    string
		owner   string
		seats   []int
		wantErr error
	}{
		{"Three", "alice", []int{0, 1, 2}, nil},
		{"TwoMore", "alice", []int{3, 4}, seating.ErrCapExceeded},
		{"OneMore", "alice", []int{3}, nil},
		{"AnotherOwner", "bob", []int{5, 6, 7, 8}, nil},
		{"Full", "alice", []int{10}, seating.ErrCapExceeded},
	}
	var first seating.Hold
	for i, st := range steps {
		h, err := hold(st.owner, st.seats...)
		if !errors.Is(err, st.wantErr) {
			t.Errorf("%s: got %v, want %v", st.name, err, st.wantErr)
		}
		if i == 0 {
			first = h
		}
	}
	// Sold seats do not count.
	if _, err := e.s.Confirm(ctx, Event, first.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := hold("alice", 10, 11, 12); err != nil {
		t.Errorf("after confirming 3: got %v, want nil", err)
	}
	// Expired holds do not count either.
	e.clock.Add(ttl)
	if _, err := hold("alice", 13, 14, 15, 16); err != nil {
		t.Errorf("after expiry: got %v, want nil", err)
	}
	if _, err := hold("alice", 17); !errors.Is(err, seating.ErrCapExceeded) {
		t.Errorf("fifth: got %v, want ErrCapExceeded", err)
	}
	if _, err := e.s.Hold(ctx, Event, "A", seating.HoldRequest{Owner: "carol", Tier: 1, Quantity: 3, TTL: ttl, MaxSeats: 2}); !errors.Is(err, seating.ErrCapExceeded) {
		t.Errorf("best available over the cap: got %v, want ErrCapExceeded", err)
	}
}

func testSnapshotCounts(e *env) {
	t, ctx := e.t, e.t.Context()
	h := e.mustHold("A", "alice", 0, 1, 10)
	if _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	e.mustHold("A", "bob", 2, 25, 26)
	gone := e.mustHold("A", "carol", 3)
	e.clock.Add(ttl - time.Millisecond)
	e.mustHold("A", "dan", 4)
	e.clock.Add(time.Millisecond) // expires every hold but dan's
	snap := e.snapshot("A")
	want := []seating.TierCount{
		{Free: 15 - 2 - 1 - 1, Held: 1, Sold: 2, Blocked: 1},
		{Free: 15 - 1, Held: 0, Sold: 1},
	}
	if !reflect.DeepEqual(snap.Tiers, want) || !snap.At.Equal(e.clock.Now()) || snap.Stand != "A" {
		t.Errorf("Snapshot got counts %v at %v, want %v at %v", snap.Tiers, snap.At, want, e.clock.Now())
	}
	if got, want := len(snap.Status), 8; got != want {
		t.Errorf("status got %d bytes, want %d", got, want)
	}
	if _, err := e.s.Confirm(ctx, Event, gone.ID, "carol"); !errors.Is(err, seating.ErrHoldNotFound) {
		t.Errorf("the snapshot's sweep left the expired hold: got %v, want ErrHoldNotFound", err)
	}
	if b := e.snapshot("B"); !reflect.DeepEqual(b.Tiers, []seating.TierCount{{Free: 16}}) || b.Version != 0 {
		t.Errorf("stand B got %v version %d, want 16 free at version 0", b.Tiers, b.Version)
	}
}

func testVersions(e *env) {
	t, ctx := e.t, e.t.Context()
	var h seating.Hold
	steps := []struct {
		name  string
		call  func() error
		delta uint64
	}{
		{"Hold", func() (err error) { h, err = e.hold("A", "alice", 0, 1, 2, 3); return err }, 1},
		{"Conflict", func() error { _, err := e.hold("A", "bob", 3, 4); return ignore(err, seating.ErrConflict) }, 0},
		{"Extend", func() error { _, err := e.s.Extend(ctx, Event, h.ID, "alice", ttl, time.Hour); return err }, 0},
		{"Confirm", func() error { _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); return err }, 1},
		{"ConfirmAgain", func() error { _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); return err }, 0},
		{"Other", func() (err error) { h, err = e.hold("A", "bob", 4); return err }, 1},
		{"Release", func() error { _, err := e.s.Release(ctx, Event, h.ID, "bob"); return err }, 1},
		{"ReleaseAgain", func() error { _, err := e.s.Release(ctx, Event, h.ID, "bob"); return err }, 0},
		{"Snapshot", func() error { e.snapshot("A"); return nil }, 0},
		{"OtherStand", func() error { _, err := e.hold("B", "bob", 4); return err }, 0},
	}
	last := e.snapshot("A").Version
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		v := e.snapshot("A").Version
		if v != last+st.delta {
			t.Errorf("%s: version got %d, want %d", st.name, v, last+st.delta)
		}
		last = v
	}
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("got %v, want %v", err, want)
}

func testChangeLog(e *env) {
	t, ctx := e.t, e.t.Context()
	changes := func(since uint64) ([]seating.Change, uint64, bool) {
		t.Helper()
		c, v, ok, err := e.s.Changes(ctx, Event, "A", since)
		if err != nil {
			t.Fatalf("Changes(%d): %v", since, err)
		}
		return c, v, ok
	}
	base := e.snapshot("A")
	// v1 logs 3 changes, v2 2, v3 3: the log (8) is full.
	a := e.mustHold("A", "alice", 0, 1, 2)
	e.mustHold("A", "bob", 3, 4)
	if _, err := e.s.Confirm(ctx, Event, a.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	got, v, ok := changes(0)
	ch := func(v uint64, seat int, st seating.Status) seating.Change {
		return seating.Change{Version: v, Seat: seat, Status: st}
	}
	want := []seating.Change{ch(1, 0, 1), ch(1, 1, 1), ch(1, 2, 1), ch(2, 3, 1), ch(2, 4, 1), ch(3, 0, 2), ch(3, 1, 2), ch(3, 2, 2)}
	if !ok || v != 3 || !slices.Equal(got, want) {
		t.Errorf("Changes(0) got %v, %d, %v, want %v, 3, true", got, v, ok, want)
	}
	// Applied to the first snapshot, the changes give the last one.
	status := slices.Clone(base.Status)
	for _, c := range got {
		status[c.Seat/4] = status[c.Seat/4]&^(3<<(6-2*(c.Seat%4))) | byte(c.Status)<<(6-2*(c.Seat%4))
	}
	if snap := e.snapshot("A"); !slices.Equal(status, snap.Status) {
		t.Errorf("changes applied got %x, want %x", status, snap.Status)
	}
	steps := []struct {
		since  uint64
		wantN  int
		wantOK bool
	}{{2, 3, true}, {3, 0, true}, {4, 0, false}}
	for _, st := range steps {
		if got, v, ok := changes(st.since); len(got) != st.wantN || ok != st.wantOK || v != 3 {
			t.Errorf("Changes(%d) got %d changes, %d, %v, want %d, 3, %v", st.since, len(got), v, ok, st.wantN, st.wantOK)
		}
	}
	// v4 logs one more: the log (8) drops v1's first entry, so v1 is no
	// longer whole; since 1 still works.
	e.mustHold("A", "carol", 5)
	if _, _, ok := changes(0); ok {
		t.Errorf("Changes(0) after the log dropped part of v1: got ok, want a reload")
	}
	if got, v, ok := changes(1); !ok || v != 4 || len(got) != 6 {
		t.Errorf("Changes(1) got %v, %d, %v, want 6 changes, 4, true", got, v, ok)
	}
	e.mustHold("A", "dan", 6, 7, 8) // v5 drops the rest of v1 and part of v2
	steps = []struct {
		since  uint64
		wantN  int
		wantOK bool
	}{{1, 0, false}, {2, 7, true}, {5, 0, true}}
	for _, st := range steps {
		if got, v, ok := changes(st.since); len(got) != st.wantN || ok != st.wantOK || v != 5 {
			t.Errorf("after v5: Changes(%d) got %v, %d, %v, want %d changes, 5, %v", st.since, got, v, ok, st.wantN, st.wantOK)
		}
	}
}

func testPrepareIdempotent(e *env) {
	t, ctx := e.t, e.t.Context()
	h := e.mustHold("A", "alice", 0, 1)
	before := e.snapshot("A")
	if err := e.s.Prepare(ctx, Event, Layouts()); err != nil {
		t.Fatalf("second Prepare: %v", err)
	}
	if after := e.snapshot("A"); after.Version != before.Version || !slices.Equal(after.Status, before.Status) {
		t.Errorf("second Prepare reset the stand: got version %d, want %d", after.Version, before.Version)
	}
	if _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); err != nil {
		t.Errorf("Confirm after a second Prepare: %v", err)
	}
	other := Layouts()[:1]
	other[0].Tiers = other[0].Tiers[:20]
	other[0].Rows = other[0].Rows[:2]
	if err := e.s.Prepare(ctx, Event, other); !errors.Is(err, seating.ErrInvalid) {
		t.Errorf("Prepare of another shape: got %v, want ErrInvalid", err)
	}
}

func testNotPrepared(e *env) {
	ctx := e.t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"Hold", func() error { _, err := e.hold("Z", "alice", 0); return err }},
		{"Snapshot", func() error { _, err := e.s.Snapshot(ctx, Event, "Z"); return err }},
		{"Changes", func() error { _, _, _, err := e.s.Changes(ctx, Event, "Z", 0); return err }},
		{"Confirm", func() error { _, err := e.s.Confirm(ctx, Event, "Z.AAAAAAAAAAAAAAAA", "alice"); return err }},
		{"Release", func() error { _, err := e.s.Release(ctx, Event, "Z.AAAAAAAAAAAAAAAA", "alice"); return err }},
		{"OtherEvent", func() error { _, err := e.s.Snapshot(ctx, "other", "A"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, seating.ErrNotPrepared) {
			e.t.Errorf("%s: got %v, want ErrNotPrepared", c.name, err)
		}
	}
}

func testInvalidInput(e *env) {
	ctx := e.t.Context()
	hold := func(stand string, req seating.HoldRequest) func() error {
		return func() error { _, err := e.s.Hold(ctx, Event, stand, req); return err }
	}
	r := func(seats ...int) seating.HoldRequest {
		return seating.HoldRequest{Owner: "alice", Seats: seats, TTL: ttl}
	}
	many := make([]int, seating.MaxHoldSeats+1)
	for i := range many {
		many[i] = i
	}
	calls := []struct {
		name string
		call func() error
		want error
	}{
		{"NoSeats", hold("A", seating.HoldRequest{Owner: "alice", TTL: ttl}), seating.ErrInvalid},
		{"Negative", hold("A", r(-1)), seating.ErrInvalid},
		{"Duplicate", hold("A", r(1, 2, 1)), seating.ErrInvalid},
		{"TooMany", hold("A", r(many...)), seating.ErrInvalid},
		{"QuantityMismatch", hold("A", seating.HoldRequest{Owner: "a", Seats: []int{1}, Quantity: 2, TTL: ttl}), seating.ErrInvalid},
		{"QuantityTooBig", hold("A", seating.HoldRequest{Owner: "a", Quantity: seating.MaxHoldQuantity + 1, TTL: ttl}), seating.ErrInvalid},
		{"NegativeTier", hold("A", seating.HoldRequest{Owner: "a", Quantity: 1, Tier: -1, TTL: ttl}), seating.ErrInvalid},
		{"NoOwner", hold("A", seating.HoldRequest{Seats: []int{1}, TTL: ttl}), seating.ErrInvalid},
		{"NoTTL", hold("A", seating.HoldRequest{Owner: "a", Seats: []int{1}}), seating.ErrInvalid},
		{"NegativeCap", hold("A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: ttl, MaxSeats: -1}), seating.ErrInvalid},
		{"BadKey", hold("A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: ttl, Key: "a b"}), seating.ErrInvalid},
		{"BadStand", hold("A:{x}", r(1)), seating.ErrInvalid},
		{"BadEvent", func() error { _, err := e.s.Snapshot(ctx, "a}b", "A"); return err }, seating.ErrInvalid},
		{"BadHoldID", func() error { _, err := e.s.Confirm(ctx, Event, "A:x.AAAA", "a"); return err }, seating.ErrHoldNotFound},
		{"ReleaseBadHoldID", func() error { _, err := e.s.Release(ctx, Event, "A.short", "a"); return err }, seating.ErrHoldNotFound},
		{"HoldIDNoStand", func() error { _, err := e.s.Confirm(ctx, Event, "AAAAAAAAAAAAAAAA", "a"); return err }, seating.ErrHoldNotFound},
		{"ExtendNoTTL", func() error { _, err := e.s.Extend(ctx, Event, "A.AAAAAAAAAAAAAAAA", "a", 0, time.Hour); return err }, seating.ErrInvalid},
		{"ExtendNoOwner", func() error { _, err := e.s.Extend(ctx, Event, "A.AAAAAAAAAAAAAAAA", "", ttl, time.Hour); return err }, seating.ErrInvalid},
		{"PrepareBadTier", func() error {
			l := Layouts()
			l[1].Tiers[3] = 1
			return e.s.Prepare(ctx, Event, l[1:])
		}, seating.ErrInvalid},
		{"PrepareBadRows", func() error {
			l := Layouts()
			l[1].Rows = []int{0, 20}
			return e.s.Prepare(ctx, Event, l[1:])
		}, seating.ErrInvalid},
	}
	for _, c := range calls {
		var before int64
		if e.h.Calls != nil {
			before = e.h.Calls(e.t)
		}
		if err := c.call(); !errors.Is(err, c.want) {
			e.t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if e.h.Calls != nil {
			if n := e.h.Calls(e.t) - before; n != 0 {
				e.t.Errorf("%s: the store ran %d commands, want 0", c.name, n)
			}
		}
	}
	// Only the store knows the stand's size.
	if err := hold("A", r(30))(); !errors.Is(err, seating.ErrInvalid) {
		e.t.Errorf("seat 30 of 30: got %v, want ErrInvalid", err)
	}
}

func testIdempotencyKey(e *env) {
	t, ctx := e.t, e.t.Context()
	hold := func(owner, key string, seats ...int) (seating.Hold, error) {
		return e.s.Hold(ctx, Event, "A", seating.HoldRequest{Owner: owner, Seats: seats, TTL: ttl, Key: key})
	}
	first, err := hold("alice", "k1", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		owner   string
		seats   []int
		wantErr error
		wantID  bool // the same hold as first
	}{
		{"Repeat", "alice", []int{0, 1}, nil, true},
		{"RepeatOtherSeats", "alice", []int{5}, nil, true},
		{"OtherOwnerSameKey", "bob", []int{0}, seating.ErrConflict, false},
	}
	for _, st := range steps {
		h, err := hold(st.owner, "k1", st.seats...)
		if !errors.Is(err, st.wantErr) || st.wantID && !reflect.DeepEqual(h, first) {
			t.Errorf("%s: got %+v, %v, want %v (same hold %v)", st.name, h, err, st.wantErr, st.wantID)
		}
	}
	if v := e.snapshot("A").Version; v != first.Version {
		t.Errorf("repeats changed the version: got %d, want %d", v, first.Version)
	}
	// Without a key, a repeat conflicts on its own seats.
	if _, err := hold("alice", "", 0, 1); !errors.Is(err, seating.ErrConflict) {
		t.Errorf("repeat without a key: got %v, want a conflict", err)
	}
	conf, err := e.s.Confirm(ctx, Event, first.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := hold("alice", "k1", 0, 1); err != nil || !reflect.DeepEqual(h, conf) {
		t.Errorf("after confirm: got %+v, %v, want the confirmed hold %+v", h, err, conf)
	}
	// A released or expired keyed hold frees its key.
	r, _ := hold("alice", "k2", 2)
	if _, err := e.s.Release(ctx, Event, r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if h, err := hold("alice", "k2", 3); err != nil || h.ID == r.ID || !slices.Equal(h.Seats, []int{3}) {
		t.Errorf("after release: got %+v, %v, want a new hold of seat 3", h, err)
	}
	e.clock.Add(ttl)
	if h, err := hold("alice", "k2", 3); err != nil || !slices.Equal(h.Seats, []int{3}) || !h.ExpiresAt.Equal(e.clock.Now().Add(ttl)) {
		t.Errorf("after expiry: got %+v, %v, want a new hold of seat 3", h, err)
	}
}

func testRepeatsLeaveSameState(e *env) {
	t, ctx := e.t, e.t.Context()
	d, ok := e.s.(Dumper)
	if !ok {
		t.Skip("the store does not dump")
	}
	state := func() seating.StandDump {
		t.Helper()
		dump, err := d.Dump(ctx, Event, "A")
		if err != nil {
			t.Fatal(err)
		}
		dump.At = time.Time{}
		return dump
	}
	h, err := e.s.Hold(ctx, Event, "A", seating.HoldRequest{Owner: "alice", Seats: []int{0, 1}, TTL: ttl, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	r := e.mustHold("A", "bob", 5)
	calls := []struct {
		name string
		call func() error
	}{
		{"Hold", func() error {
			_, err := e.s.Hold(ctx, Event, "A", seating.HoldRequest{Owner: "alice", Seats: []int{0, 1}, TTL: ttl, Key: "k"})
			return err
		}},
		{"Release", func() error { _, err := e.s.Release(ctx, Event, r.ID, "bob"); return err }},
		{"Confirm", func() error { _, err := e.s.Confirm(ctx, Event, h.ID, "alice"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		once := state()
		for i := range 3 {
			if err := c.call(); err != nil {
				t.Fatalf("%s repeated: %v", c.name, err)
			}
			if again := state(); !reflect.DeepEqual(again, once) {
				t.Errorf("%s repeat %d changed the stand: got %+v, want %+v", c.name, i, again, once)
			}
		}
	}
}

func testOneWinnerPerSeat(e *env) {
	const fans = 40
	var wg sync.WaitGroup
	results := make([]error, fans)
	holds := make([]seating.Hold, fans)
	for i := range fans {
		wg.Go(func() {
			holds[i], results[i] = e.hold("B", fmt.Sprint("fan", i), 3, 4+i%2)
		})
	}
	wg.Wait()
	winners := 0
	for i, err := range results {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, seating.ErrConflict):
			e.t.Errorf("fan %d: got %v, want nil or a conflict", i, err)
		}
	}
	if winners != 1 {
		e.t.Errorf("got %d winners of seat 3, want 1", winners)
	}
}
