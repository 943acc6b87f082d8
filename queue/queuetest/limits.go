package queuetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// limitTests are the conformance cases of the active-session cap, sessions,
// abandoned turns, sold out, the pre-queue draw and leads.
var limitTests = []struct {
	name string
	run  func(t *testing.T, s queue.Store, forget func(string))
}{
	{"CapBoundsTurnsAndSessions", testCapBoundsTurnsAndSessions},
	{"AbandonedTurnsAreReissued", testAbandonedTurnsAreReissued},
	{"SessionsExpireAndRenew", testSessionsExpireAndRenew},
	{"ClaimErrors", testClaimErrors},
	{"SoldOut", testSoldOut},
	{"PrequeueDraw", testPrequeueDraw},
	{"ApplyDrawChecksOrder", testApplyDrawChecksOrder},
	{"DrawSeedKeepsFirst", testDrawSeedKeepsFirst},
	{"Lead", testLead},
	{"SwapControl", testSwapControl},
	{"Journal", testJournal},
	{"LanesDealByWeight", testLanesDealByWeight},
	{"LanesSkipEmptyLanes", testLanesSkipEmptyLanes},
	{"LanesUnderCap", testLanesUnderCap},
	{"LanesSurviveStateLoss", testLanesSurviveStateLoss},
}

// lane is a seed joining lane i of lanes 10/30/60, at rate.
func lane(i int, rate float64) queue.Seed {
	return queue.Seed{Control: queue.Control{RatePerSecond: rate}, Lanes: []int{10, 30, 60}, Lane: i}
}

func testLanesDealByWeight(t *testing.T, s queue.Store, _ func(string)) {
	// 100 visitors in each lane, all waiting.
	for i := range 3 {
		for j := range 100 {
			join(t, s, fmt.Sprintf("l%d-%d", i, j), lane(i, 0))
		}
	}
	st := advance(t, s, lane(0, 0))
	if st.Lanes == nil || !slices.Equal(st.Lanes.Weights, []int{1, 3, 6}) {
		t.Fatalf("got lanes %+v, want reduced weights 1 3 6", st.Lanes)
	}
	if st.Waiting() != 300 {
		t.Errorf("got %d waiting, want 300", st.Waiting())
	}
	// Of the first 50 admitted, 5, 15 and 30 come from the three lanes;
	// within a lane, join order is kept.
	var first [3]int
	for i := range 3 {
		prev := uint64(0)
		for j := range 100 {
			e := join(t, s, fmt.Sprintf("l%d-%d", i, j), lane(i, 0))
			if e.Seq <= prev {
				t.Fatalf("lane %d: visitor %d got seq %d after %d, want join order kept", i, j, e.Seq, prev)
			}
			prev = e.Seq
			if got := st.Lanes.Lane(e.Seq); got != i {
				t.Fatalf("seq %d of lane %d is dealt to lane %d", e.Seq, i, got)
			}
			_, pos := st.Place(queue.Ticket{Visitor: "x", Seq: e.Seq, Epoch: st.Epoch})
			if pos <= 50 {
				first[i]++
			}
		}
	}
	if first != [3]int{5, 15, 30} {
		t.Errorf("lanes of the first 50 positions: got %v, want [5 15 30]", first)
	}
}

func testLanesSkipEmptyLanes(t *testing.T, s queue.Store, _ func(string)) {
	// Only the smallest lane has visitors: they are not slowed down by the
	// others' empty slots.
	var last queue.Entry
	for j := range 20 {
		last = join(t, s, fmt.Sprint("a", j), lane(0, 0))
	}
	st := advance(t, s, lane(0, 0))
	if st.Waiting() != 20 {
		t.Errorf("got %d waiting, want 20", st.Waiting())
	}
	if _, pos := st.Place(queue.Ticket{Visitor: "a19", Seq: last.Seq, Epoch: st.Epoch}); pos != 20 {
		t.Errorf("the 20th of the only busy lane got position %d, want 20", pos)
	}
	// 10 admissions a second: about 10 of them in a second of store time.
	setControl(t, s, queue.Control{RatePerSecond: 10}, lane(0, 0))
	st = advanceFor(t, s, lane(0, 0), time.Second)
	if done := 20 - st.Waiting(); done < 9 || done > 13 {
		t.Errorf("got %d admitted in ~1s at 10/s, want about 10", done)
	}
	// A newcomer to another lane takes a slot above the serving counter.
	e := join(t, s, "c0", lane(2, 0))
	if e.Seq <= st.Serving {
		t.Errorf("a newcomer got seq %d at or below serving %d", e.Seq, st.Serving)
	}
	if _, err := s.Join(t.Context(), event, "bad", queue.Seed{Lanes: []int{10, 30, 60}, Lane: 3}); !errors.Is(err, queue.ErrInvalidLanes) {
		t.Errorf("joining lane 3 of 3 got %v, want ErrInvalidLanes", err)
	}
}

func testLanesUnderCap(t *testing.T, s queue.Store, _ func(string)) {
	seed := lane(1, 10000)
	seed.Control.MaxActive = 3
	for j := range 6 {
		join(t, s, fmt.Sprint("b", j), seed)
	}
	st := advanceFor(t, s, seed, 10*time.Millisecond)
	if st.Pending != 3 || st.Waiting() != 3 {
		t.Errorf("under a cap of 3 got pending %d waiting %d, want 3 3", st.Pending, st.Waiting())
	}
}

func testLanesSurviveStateLoss(t *testing.T, s queue.Store, forget func(string)) {
	for j := range 5 {
		join(t, s, fmt.Sprint("c", j), lane(2, 0))
	}
	before := advance(t, s, lane(2, 0))
	forget(event)
	after := advance(t, s, queue.Seed{Last: before, Lanes: []int{10, 30, 60}})
	if after.Lanes == nil || !slices.Equal(after.Lanes.Last, before.Lanes.Last) || after.Waiting() != 5 {
		t.Fatalf("re-created line: lanes %+v waiting %d, want the lanes carried and 5 waiting", after.Lanes, after.Waiting())
	}
	e := join(t, s, "c-new", queue.Seed{Last: after, Lanes: []int{10, 30, 60}, Lane: 2})
	if e.Seq <= before.Lanes.Last[2] {
		t.Errorf("a newcomer after the loss got seq %d, at or below the carried %d", e.Seq, before.Lanes.Last[2])
	}
}

// capped is a seed whose line admits fast under a cap of max.
func capped(max int, claim, session time.Duration) queue.Seed {
	return queue.Seed{Control: queue.Control{RatePerSecond: 10000, MaxActive: max, ClaimWindow: claim, SessionTTL: session}}
}

func claim(t *testing.T, s queue.Store, tk queue.Ticket, seed queue.Seed) queue.State {
	t.Helper()
	st, err := s.Claim(t.Context(), event, tk, seed)
	if err != nil {
		t.Fatalf("Claim(%s #%d): %v", tk.Visitor, tk.Seq, err)
	}
	return st
}

// advanceFor advances for at least d of store time and returns the last state.
func advanceFor(t *testing.T, s queue.Store, seed queue.Seed, d time.Duration) queue.State {
	t.Helper()
	first := advance(t, s, seed)
	for {
		time.Sleep(5 * time.Millisecond)
		st := advance(t, s, seed)
		if st.At.Sub(first.At) >= d {
			return st
		}
	}
}

func testCapBoundsTurnsAndSessions(t *testing.T, s queue.Store, _ func(string)) {
	seed := capped(3, time.Minute, time.Minute)
	tk := joinMany(t, s, "v", 10, seed)
	st := advanceFor(t, s, seed, 20*time.Millisecond)
	if st.Serving != 3 || st.Pending != 3 || st.Active != 0 {
		t.Fatalf("under a cap of 3 got serving %d pending %d active %d, want 3 3 0", st.Serving, st.Pending, st.Active)
	}
	claim(t, s, tk[0], seed)
	st = claim(t, s, tk[1], seed)
	if st.Active != 2 || st.Pending != 1 {
		t.Errorf("after two claims got active %d pending %d, want 2 1", st.Active, st.Pending)
	}
	if st = advanceFor(t, s, seed, 20*time.Millisecond); st.Serving != 3 {
		t.Errorf("with the cap full got serving %d, want 3", st.Serving)
	}
	st, err := s.EndSession(t.Context(), event, tk[0].Visitor, seed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != 1 {
		t.Errorf("after EndSession got active %d, want 1", st.Active)
	}
	if st = advanceFor(t, s, seed, 20*time.Millisecond); st.Serving != 4 || st.Active+st.Pending != 3 {
		t.Errorf("after a slot was freed got serving %d active+pending %d, want 4 and 3", st.Serving, st.Active+st.Pending)
	}
}

func testAbandonedTurnsAreReissued(t *testing.T, s queue.Store, _ func(string)) {
	seed := capped(2, 100*time.Millisecond, time.Minute)
	tk := joinMany(t, s, "v", 6, seed)
	if st := advanceFor(t, s, seed, 10*time.Millisecond); st.Serving != 2 {
		t.Fatalf("got serving %d, want 2", st.Serving)
	}
	claim(t, s, tk[1], seed)
	st := advanceFor(t, s, seed, 150*time.Millisecond)
	if st.Abandoned != 1 || st.Serving != 3 {
		t.Fatalf("after the claim window got abandoned %d serving %d, want 1 and 3 (the slot reissued)", st.Abandoned, st.Serving)
	}
	if _, err := s.Claim(t.Context(), event, tk[0], seed); !errors.Is(err, queue.ErrTurnOver) {
		t.Fatalf("claiming an abandoned turn got %v, want ErrTurnOver", err)
	}
	// The abandoned visitor's place is released: joining again queues them
	// at the tail.
	if e := join(t, s, tk[0].Visitor, seed); e.Existing || e.Seq != 7 {
		t.Errorf("joining again after abandoning got seq %d existing %v, want 7 false", e.Seq, e.Existing)
	}
	claim(t, s, tk[2], seed)
}

func testSessionsExpireAndRenew(t *testing.T, s queue.Store, _ func(string)) {
	seed := capped(0, 0, 150*time.Millisecond)
	tk := joinMany(t, s, "v", 2, seed)
	advanceFor(t, s, seed, 5*time.Millisecond)
	st := claim(t, s, tk[0], seed)
	claim(t, s, tk[1], seed)
	begin := st.At
	// Renew tk[0] until well past its first expiry; tk[1] lapses.
	for {
		st = claim(t, s, tk[0], seed)
		if st.At.Sub(begin) > 300*time.Millisecond {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st = advance(t, s, seed); st.Active != 1 {
		t.Errorf("got %d active sessions, want 1 (the renewed one)", st.Active)
	}
}

func testClaimErrors(t *testing.T, s queue.Store, _ func(string)) {
	seed := queue.Seed{Control: queue.Control{RatePerSecond: 0}}
	tk := joinMany(t, s, "v", 2, seed)
	if _, err := s.Claim(t.Context(), event, tk[0], seed); !errors.Is(err, queue.ErrNotTurn) {
		t.Errorf("claim before the turn got %v, want ErrNotTurn", err)
	}
	setControl(t, s, queue.Control{RatePerSecond: 10000}, seed)
	waitServing(t, s, 2)
	forged := tk[0]
	forged.Visitor = "mallory"
	if _, err := s.Claim(t.Context(), event, forged, seed); !errors.Is(err, queue.ErrTurnOver) {
		t.Errorf("claim of a number the visitor does not hold got %v, want ErrTurnOver", err)
	}
	claim(t, s, tk[0], seed)
	claim(t, s, tk[0], seed) // a renewal
	if _, err := s.EndSession(t.Context(), event, tk[0].Visitor, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(t.Context(), event, tk[0], seed); !errors.Is(err, queue.ErrTurnOver) {
		t.Errorf("claim after the session ended got %v, want ErrTurnOver", err)
	}
	if _, err := s.EndSession(t.Context(), event, "nobody", seed); err != nil {
		t.Errorf("ending no session got %v, want nil", err)
	}
	if _, err := s.Claim(t.Context(), event, queue.Ticket{Event: event, Visitor: "x", Epoch: tk[1].Epoch}, seed); !errors.Is(err, queue.ErrNotTurn) {
		t.Errorf("claim of a pre-queue ticket got %v, want ErrNotTurn", err)
	}
}

func testSoldOut(t *testing.T, s queue.Store, _ func(string)) {
	seed := capped(1, time.Minute, time.Minute)
	tk := joinMany(t, s, "v", 3, seed)
	waitServing(t, s, 1)
	claim(t, s, tk[0], seed)
	st := setControl(t, s, queue.Control{RatePerSecond: 10000, SoldOut: true}, seed)
	if !st.Control.SoldOut {
		t.Fatal("got SoldOut false after setting it")
	}
	if _, err := s.Join(t.Context(), event, "newcomer", seed); !errors.Is(err, queue.ErrSoldOut) {
		t.Errorf("join of a newcomer got %v, want ErrSoldOut", err)
	}
	if e := join(t, s, tk[2].Visitor, seed); !e.Existing || e.Seq != tk[2].Seq {
		t.Errorf("a visitor in line joining again got seq %d existing %v, want %d true", e.Seq, e.Existing, tk[2].Seq)
	}
	if st := advanceFor(t, s, seed, 20*time.Millisecond); st.Serving != 1 {
		t.Errorf("sold out line got serving %d, want it to stay 1", st.Serving)
	}
	claim(t, s, tk[0], seed) // a live session still renews
	setControl(t, s, queue.Control{RatePerSecond: 10000}, seed)
	waitServing(t, s, 3)
	if _, err := s.Join(t.Context(), event, "newcomer", seed); err != nil {
		t.Errorf("join after reopening got %v, want nil", err)
	}
}

// storeNow reads the store's clock through another event's line.
func storeNow(t *testing.T, s queue.Store) time.Time {
	t.Helper()
	st, err := s.Advance(t.Context(), "clock", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	return st.At
}

func testPrequeueDraw(t *testing.T, s queue.Store, _ func(string)) {
	const pre, late = 40, 5
	seed := queue.Seed{Control: queue.Control{RatePerSecond: 0}, PrequeueClosesAt: storeNow(t, s).Add(400 * time.Millisecond)}
	for i := range pre {
		e := join(t, s, fmt.Sprint("p", i), seed)
		if !e.Pre || e.Seq != 0 || e.Existing {
			t.Fatalf("pre-queue join got pre %v seq %d existing %v, want true 0 false", e.Pre, e.Seq, e.Existing)
		}
	}
	if e := join(t, s, "p0", seed); !e.Pre || !e.Existing {
		t.Errorf("joining the pre-queue again got pre %v existing %v, want true true", e.Pre, e.Existing)
	}
	if _, _, err := s.Prequeue(t.Context(), event, seed); !errors.Is(err, queue.ErrNotStarted) {
		t.Fatalf("Prequeue before the start got %v, want ErrNotStarted", err)
	}
	if _, _, err := queue.RunDraw(t.Context(), s, event, seed); !errors.Is(err, queue.ErrNotStarted) {
		t.Fatalf("RunDraw before the start got %v, want ErrNotStarted", err)
	}
	for time.Until(seed.PrequeueClosesAt) > -50*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range late {
		if e := join(t, s, fmt.Sprint("late", i), seed); !e.Pre {
			t.Fatalf("a join after the start and before the draw got pre %v, want true", e.Pre)
		}
	}
	if e := join(t, s, "p1", seed); !e.Existing {
		t.Errorf("a pre-queue member joining after the start got existing %v, want true", e.Existing)
	}
	st := advance(t, s, seed)
	if !st.Prequeue || st.Members != pre || st.Late != late || st.Serving != 0 || st.Tail != 0 {
		t.Fatalf("before the draw got prequeue %v members %d late %d serving %d tail %d, want true %d %d 0 0",
			st.Prequeue, st.Members, st.Late, st.Serving, st.Tail, pre, late)
	}
	st, d, err := queue.RunDraw(t.Context(), s, event, seed)
	if err != nil {
		t.Fatal(err)
	}
	if st.Prequeue || st.Tail != pre+late || len(d.Order) != pre {
		t.Fatalf("after the draw got prequeue %v tail %d order %d, want false %d %d", st.Prequeue, st.Tail, len(d.Order), pre+late, pre)
	}
	// Every member gets the number of their place in the published order;
	// late arrivals follow in arrival order.
	rank := map[string]int{}
	for i, id := range d.Order {
		rank[id] = i + 1
	}
	for i := range pre {
		v := fmt.Sprint("p", i)
		if e := join(t, s, v, seed); e.Pre || !e.Existing || e.Seq != uint64(rank[queue.MemberID(v)]) {
			t.Errorf("%s after the draw got seq %d pre %v existing %v, want %d false true", v, e.Seq, e.Pre, e.Existing, rank[queue.MemberID(v)])
		}
	}
	for i := range late {
		if e := join(t, s, fmt.Sprint("late", i), seed); e.Seq != uint64(pre+i+1) {
			t.Errorf("late%d got seq %d, want %d", i, e.Seq, pre+i+1)
		}
	}
	if e := join(t, s, "after", seed); e.Pre || e.Seq != pre+late+1 {
		t.Errorf("a newcomer after the draw got seq %d pre %v, want %d false", e.Seq, e.Pre, pre+late+1)
	}
	doc, err := s.DrawDocument(t.Context(), event)
	if err != nil {
		t.Fatal(err)
	}
	var published queue.Draw
	if err := json.Unmarshal(doc, &published); err != nil {
		t.Fatal(err)
	}
	if err := queue.VerifyDraw(published); err != nil || !slices.Equal(published.Order, d.Order) {
		t.Errorf("published draw: verify %v, same order %v; want nil and true", err, slices.Equal(published.Order, d.Order))
	}
	// A second draw (another proxy, a retry) changes nothing.
	st2, d2, err := queue.RunDraw(t.Context(), s, event, seed)
	if err != nil || d2.Order != nil || st2.Tail != pre+late+1 {
		t.Errorf("a second RunDraw got tail %d order %v err %v, want %d, none, nil", st2.Tail, d2.Order, err, pre+late+1)
	}
	// The serving counter accrues from the draw on.
	setControl(t, s, queue.Control{RatePerSecond: 10000}, seed)
	waitServing(t, s, pre+late+1)
}

func testApplyDrawChecksOrder(t *testing.T, s queue.Store, _ func(string)) {
	seed := queue.Seed{PrequeueClosesAt: storeNow(t, s).Add(100 * time.Millisecond)}
	for _, v := range []string{"a", "b", "c"} {
		join(t, s, v, seed)
	}
	ids := []string{queue.MemberID("a"), queue.MemberID("b"), queue.MemberID("c")}
	if _, err := s.ApplyDraw(t.Context(), event, ids, []byte("{}"), seed); !errors.Is(err, queue.ErrNotStarted) {
		t.Errorf("ApplyDraw before the start got %v, want ErrNotStarted", err)
	}
	for time.Until(seed.PrequeueClosesAt) > -50*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	bad := map[string][]string{
		"missing":   ids[:2],
		"duplicate": {ids[0], ids[1], ids[1]},
		"stranger":  {ids[0], ids[1], queue.MemberID("z")},
		"extra":     append(slices.Clone(ids), queue.MemberID("z")),
	}
	for name, order := range bad {
		if _, err := s.ApplyDraw(t.Context(), event, order, []byte("{}"), seed); !errors.Is(err, queue.ErrDrawMismatch) {
			t.Errorf("%s: got %v, want ErrDrawMismatch", name, err)
		}
	}
	if st := advance(t, s, seed); !st.Prequeue || st.Tail != 0 {
		t.Errorf("after refused draws got prequeue %v tail %d, want true 0 (nothing written)", st.Prequeue, st.Tail)
	}
	if _, err := s.DrawDocument(t.Context(), event); !errors.Is(err, queue.ErrNoDraw) {
		t.Errorf("DrawDocument before a draw got %v, want ErrNoDraw", err)
	}
}

func testDrawSeedKeepsFirst(t *testing.T, s queue.Store, _ func(string)) {
	a, b := make([]byte, queue.DrawSeedSize), make([]byte, queue.DrawSeedSize)
	a[0], b[0] = 1, 2
	got, err := s.DrawSeed(t.Context(), event, a)
	if err != nil || got[0] != 1 {
		t.Fatalf("first DrawSeed got %v %v, want seed a", got, err)
	}
	if got, err = s.DrawSeed(t.Context(), event, b); err != nil || got[0] != 1 {
		t.Errorf("second DrawSeed got %v %v, want the first seed kept", got, err)
	}
	if _, err := s.DrawSeed(t.Context(), event, []byte("short")); err == nil {
		t.Error("DrawSeed of a short seed got nil error")
	}
}

func testSwapControl(t *testing.T, s queue.Store, _ func(string)) {
	seed := queue.Seed{Control: queue.Control{RatePerSecond: 12.3, MaxActive: 5, ClaimWindow: time.Minute}}
	read := advance(t, s, seed)
	// An operator changes the rate after the controller read the line.
	setControl(t, s, queue.Control{RatePerSecond: 40, MaxActive: 5, ClaimWindow: time.Minute}, seed)
	next := read.Control
	next.RatePerSecond = 20
	if _, err := s.SwapControl(t.Context(), event, read.Control, next, seed); !errors.Is(err, queue.ErrControlChanged) {
		t.Fatalf("swap over an operator's change got %v, want ErrControlChanged", err)
	}
	cur := advance(t, s, seed)
	if cur.Control.RatePerSecond != 40 {
		t.Fatalf("got rate %v, want the operator's 40 kept", cur.Control.RatePerSecond)
	}
	next = cur.Control
	next.RatePerSecond, next.SoldOut = 1.0/3, true
	st, err := s.SwapControl(t.Context(), event, cur.Control, next, seed)
	if err != nil || st.Control != next {
		t.Fatalf("swap of the control in force got %+v, %v, want %+v", st.Control, err, next)
	}
	if _, err := s.SwapControl(t.Context(), event, next, cur.Control, seed); err != nil {
		t.Errorf("swap from a rate read back from the store got %v, want nil", err)
	}
}

func testJournal(t *testing.T, s queue.Store, _ func(string)) {
	if got, err := s.Journal(t.Context(), event, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty journal: got %q, %v", got, err)
	}
	for i := range 5 {
		if err := s.Record(t.Context(), event, []byte(fmt.Sprint("entry ", i)), 3); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Journal(t.Context(), event, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"entry 4", "entry 3", "entry 2"}; fmt.Sprintf("%s", got) != fmt.Sprint(want) {
		t.Errorf("journal kept to 3: got %s, want %v (newest first)", got, want)
	}
	if got, _ := s.Journal(t.Context(), event, 1); len(got) != 1 || string(got[0]) != "entry 4" {
		t.Errorf("newest entry: got %s", got)
	}
	if err := s.Record(t.Context(), event, nil, 3); !errors.Is(err, queue.ErrInvalidRecord) {
		t.Errorf("empty entry: got %v, want ErrInvalidRecord", err)
	}
}

func testLead(t *testing.T, s queue.Store, _ func(string)) {
	lead := func(holder string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.Lead(t.Context(), event, "controller", holder, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lead("a", 100*time.Millisecond) {
		t.Fatal("a could not take a free lead")
	}
	if !lead("a", 100*time.Millisecond) {
		t.Fatal("a could not extend its lead")
	}
	if lead("b", 100*time.Millisecond) {
		t.Fatal("b took a lead a holds")
	}
	if ok, _ := s.Lead(t.Context(), event, "other-role", "b", time.Second); !ok {
		t.Error("b could not lead another role")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !lead("b", time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("b never took over a lapsed lead")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lead("a", time.Second) {
		t.Error("a took back the lead b holds")
	}
	if _, err := s.Lead(t.Context(), event, "", "a", time.Second); !errors.Is(err, queue.ErrInvalidLead) {
		t.Errorf("empty role got %v, want ErrInvalidLead", err)
	}
}
