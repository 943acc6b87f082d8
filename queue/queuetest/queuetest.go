// Package queuetest is the conformance suite of queue.Store: every store runs
// it, so the memory and Redis stores keep one meaning.
//
// Stores are timed by their own clocks, so where time must pass the suite
// waits briefly for real and derives what it expects from the store times in
// State.At, never from the wait itself.
package queuetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// Run runs the conformance suite. newStore returns an empty store for one
// subtest and a function that makes that store lose an event's line, as a
// restart without persistence would.
func Run(t *testing.T, newStore func(t *testing.T) (s queue.Store, forget func(event string))) {
	tests := []struct {
		name string
		run  func(t *testing.T, s queue.Store, forget func(string))
	}{
		{"JoinIsIdempotent", testJoinIsIdempotent},
		{"JoinSameVisitorConcurrently", testJoinSameVisitorConcurrently},
		{"JoinDistinctVisitorsConcurrently", testJoinDistinctVisitorsConcurrently},
		{"FirstCallTakesSeedControl", testFirstCallTakesSeedControl},
		{"SeedIgnoredWhileLineExists", testSeedIgnoredWhileLineExists},
		{"EventsAreIndependent", testEventsAreIndependent},
		{"AdvanceAccruesRate", testAdvanceAccruesRate},
		{"AdvanceKeepsFraction", testAdvanceKeepsFraction},
		{"AdvanceCapsAtTailWithoutBanking", testAdvanceCapsAtTailWithoutBanking},
		{"PauseAccruesNothing", testPauseAccruesNothing},
		{"SetControlSettlesAtOldRate", testSetControlSettlesAtOldRate},
		{"StateLossCarriesPlaces", testStateLossCarriesPlaces},
		{"StateLossTwice", testStateLossTwice},
		{"StateLossWithoutSeed", testStateLossWithoutSeed},
		{"EpochAboveSeed", testEpochAboveSeed},
		{"InvalidInput", testInvalidInput},
		{"Ping", testPing},
	}
	tests = append(tests, limitTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, forget := newStore(t)
			tt.run(t, s, forget)
		})
	}
}

const event = "ev"

func testJoinIsIdempotent(t *testing.T, s queue.Store, _ func(string)) {
	steps := []struct {
		visitor      string
		wantSeq      uint64
		wantExisting bool
		wantTail     uint64
	}{
		{"alice", 1, false, 1},
		{"alice", 1, true, 1},
		{"bob", 2, false, 2},
		{"alice", 1, true, 2},
		{"bob", 2, true, 2},
	}
	var epoch uint64
	for i, st := range steps {
		e := join(t, s, st.visitor, queue.Seed{})
		if e.Seq != st.wantSeq || e.Existing != st.wantExisting || e.State.Tail != st.wantTail {
			t.Errorf("step %d: Join(%q) got seq %d existing %v tail %d, want %d %v %d",
				i, st.visitor, e.Seq, e.Existing, e.State.Tail, st.wantSeq, st.wantExisting, st.wantTail)
		}
		if i == 0 {
			epoch = e.State.Epoch
		}
		if e.State.Epoch != epoch {
			t.Errorf("step %d: got epoch %d, want %d", i, e.State.Epoch, epoch)
		}
	}
}

func testJoinSameVisitorConcurrently(t *testing.T, s queue.Store, _ func(string)) {
	const n = 50
	entries := make([]queue.Entry, n)
	parallel(t, n, func(i int) error {
		var err error
		entries[i], err = s.Join(t.Context(), event, "same", queue.Seed{})
		return err
	})
	fresh := 0
	for i, e := range entries {
		if e.Seq != 1 {
			t.Errorf("join %d: got seq %d, want 1", i, e.Seq)
		}
		if !e.Existing {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("got %d joins with Existing false, want 1", fresh)
	}
	if st := advance(t, s, queue.Seed{}); st.Tail != 1 {
		t.Errorf("got tail %d, want 1", st.Tail)
	}
}

func testJoinDistinctVisitorsConcurrently(t *testing.T, s queue.Store, _ func(string)) {
	const workers, each = 20, 100
	seqs := make([][]uint64, workers)
	// Advancing meanwhile exercises the scripts against each other.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var advanceErr error
	setControl(t, s, queue.Control{RatePerSecond: 1e5}, queue.Seed{})
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				st, err := s.Advance(ctx, event, queue.Seed{})
				mu.Lock()
				if err != nil && ctx.Err() == nil && advanceErr == nil {
					advanceErr = err
				}
				if err == nil && st.Serving > st.Tail && advanceErr == nil {
					advanceErr = fmt.Errorf("got serving %d above tail %d", st.Serving, st.Tail)
				}
				mu.Unlock()
			}
		})
	}
	parallel(t, workers, func(w int) error {
		for i := range each {
			e, err := s.Join(t.Context(), event, fmt.Sprintf("v%d-%d", w, i), queue.Seed{})
			if err != nil {
				return err
			}
			if e.Existing {
				return fmt.Errorf("visitor v%d-%d: got Existing true for a first join", w, i)
			}
			seqs[w] = append(seqs[w], e.Seq)
		}
		return nil
	})
	stop()
	wg.Wait()
	if advanceErr != nil {
		t.Errorf("Advance: %v", advanceErr)
	}
	all := slices.Sorted(slices.Values(slices.Concat(seqs...)))
	for i, seq := range all {
		if seq != uint64(i+1) {
			t.Fatalf("sorted seqs[%d]: got %d, want %d (duplicate or gap)", i, seq, i+1)
		}
	}
	if st := advance(t, s, queue.Seed{}); st.Tail != workers*each {
		t.Errorf("got tail %d, want %d", st.Tail, workers*each)
	}
}

func testFirstCallTakesSeedControl(t *testing.T, s queue.Store, _ func(string)) {
	c := queue.Control{RatePerSecond: 7.25, Paused: true}
	e := join(t, s, "alice", queue.Seed{Control: c})
	st := e.State
	if st.Control != c {
		t.Errorf("got control %+v, want %+v", st.Control, c)
	}
	if st.Epoch == 0 || st.Epoch > uint64(st.At.UnixMicro()) {
		t.Errorf("got epoch %d, want a store time in µs no later than At %d", st.Epoch, st.At.UnixMicro())
	}
	if st.PrevEpoch != 0 || st.Carried != 0 || st.Serving != 0 {
		t.Errorf("got prev epoch %d carried %d serving %d, want zeros", st.PrevEpoch, st.Carried, st.Serving)
	}
	e = join(t, s, "bob", queue.Seed{Control: queue.Control{RatePerSecond: 99}})
	if e.State.Control != c {
		t.Errorf("second join: got control %+v, want %+v kept", e.State.Control, c)
	}
}

func testSeedIgnoredWhileLineExists(t *testing.T, s queue.Store, _ func(string)) {
	first := join(t, s, "alice", queue.Seed{}).State
	bogus := queue.Seed{
		Last:    queue.State{Epoch: first.Epoch + 1000, Serving: 50, Tail: 80, Control: queue.Control{RatePerSecond: 3}},
		Control: queue.Control{RatePerSecond: 9},
	}
	calls := []struct {
		name string
		call func() (queue.State, error)
	}{
		{"Join", func() (queue.State, error) {
			e, err := s.Join(t.Context(), event, "bob", bogus)
			return e.State, err
		}},
		{"Advance", func() (queue.State, error) { return s.Advance(t.Context(), event, bogus) }},
	}
	for _, c := range calls {
		st, err := c.call()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if st.Epoch != first.Epoch || st.Serving != 0 || st.Tail != 2 || st.Control != first.Control {
			t.Errorf("%s: got %+v, want the existing line (epoch %d, serving 0, tail 2, control %+v)",
				c.name, st, first.Epoch, first.Control)
		}
	}
}

func testEventsAreIndependent(t *testing.T, s queue.Store, _ func(string)) {
	for i := range 3 {
		join(t, s, fmt.Sprint("a", i), queue.Seed{})
	}
	if _, err := s.SetControl(t.Context(), event, queue.Control{RatePerSecond: 5}, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	e, err := s.Join(t.Context(), "other-event", "a0", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 1 || e.Existing || e.State.Control.RatePerSecond != 0 {
		t.Errorf("other event: got seq %d existing %v control %+v, want 1 false rate 0",
			e.Seq, e.Existing, e.State.Control)
	}
}

func testAdvanceAccruesRate(t *testing.T, s queue.Store, _ func(string)) {
	const rate = 100.0
	joinMany(t, s, "v", 500, queue.Seed{})
	start := setControl(t, s, queue.Control{RatePerSecond: rate}, queue.Seed{})
	for i := range 5 {
		time.Sleep(20 * time.Millisecond)
		st := advance(t, s, queue.Seed{})
		if st.Serving == st.Tail {
			t.Fatalf("step %d: the line ran out (serving %d); the machine stalled for seconds", i, st.Serving)
		}
		got := float64(st.Serving - start.Serving)
		want := rate * st.At.Sub(start.At).Seconds()
		if math.Abs(got-want) > 1 {
			t.Errorf("step %d: got %v admitted over %v of store time, want %.2f ± 1", i, got, st.At.Sub(start.At), want)
		}
	}
}

func testAdvanceKeepsFraction(t *testing.T, s queue.Store, _ func(string)) {
	// Each step accrues a small fraction of one admission; only a kept
	// remainder adds up to whole ones.
	const rate = 50.0
	joinMany(t, s, "v", 100, queue.Seed{})
	start := setControl(t, s, queue.Control{RatePerSecond: rate}, queue.Seed{})
	var st queue.State
	steps := 0
	for st.At.Sub(start.At) < 200*time.Millisecond {
		time.Sleep(time.Millisecond)
		st = advance(t, s, queue.Seed{})
		steps++
	}
	got := float64(st.Serving - start.Serving)
	want := rate * st.At.Sub(start.At).Seconds()
	if math.Abs(got-want) > 1 {
		t.Errorf("got %v admitted in %d steps over %v of store time, want %.2f ± 1", got, steps, st.At.Sub(start.At), want)
	}
}

func testAdvanceCapsAtTailWithoutBanking(t *testing.T, s queue.Store, _ func(string)) {
	const rate = 100.0
	joinMany(t, s, "v", 5, queue.Seed{})
	setControl(t, s, queue.Control{RatePerSecond: rate}, queue.Seed{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := advance(t, s, queue.Seed{})
		if st.Serving > st.Tail {
			t.Fatalf("got serving %d above tail %d", st.Serving, st.Tail)
		}
		if st.Serving == st.Tail {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serving %d never reached tail %d", st.Serving, st.Tail)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The line is empty: capacity accrues for nobody, on Advance and
	// before a Join alike.
	time.Sleep(50 * time.Millisecond)
	if st := advance(t, s, queue.Seed{}); st.Serving != 5 || st.Tail != 5 {
		t.Fatalf("empty line: got serving %d tail %d, want 5 5", st.Serving, st.Tail)
	}
	time.Sleep(50 * time.Millisecond)
	first := join(t, s, "late-0", queue.Seed{})
	join(t, s, "late-1", queue.Seed{})
	join(t, s, "late-2", queue.Seed{})
	st := advance(t, s, queue.Seed{})
	got := float64(st.Serving - 5)
	accrued := rate * st.At.Sub(first.State.At).Seconds()
	if most := math.Floor(accrued + 1e-6); got > most {
		t.Errorf("got %v admitted at once, want at most %v: capacity from the empty line was banked", got, most)
	}
	if least := min(3, math.Floor(accrued-1e-6)); got < least {
		t.Errorf("got %v admitted, want at least %v accrued since the first join", got, least)
	}
}

func testPauseAccruesNothing(t *testing.T, s queue.Store, _ func(string)) {
	const rate = 100.0
	joinMany(t, s, "v", 500, queue.Seed{})
	start := setControl(t, s, queue.Control{RatePerSecond: rate}, queue.Seed{})
	time.Sleep(20 * time.Millisecond)
	paused := setControl(t, s, queue.Control{RatePerSecond: rate, Paused: true}, queue.Seed{})
	if got, want := float64(paused.Serving-start.Serving), rate*paused.At.Sub(start.At).Seconds(); math.Abs(got-want) > 1 {
		t.Errorf("pausing: got %v admitted before the pause, want %.2f ± 1", got, want)
	}
	time.Sleep(50 * time.Millisecond)
	if st := advance(t, s, queue.Seed{}); st.Serving != paused.Serving || !st.Control.Paused {
		t.Errorf("paused: got serving %d paused %v, want %d true", st.Serving, st.Control.Paused, paused.Serving)
	}
	time.Sleep(20 * time.Millisecond)
	resumed := setControl(t, s, queue.Control{RatePerSecond: rate}, queue.Seed{})
	if resumed.Serving != paused.Serving {
		t.Errorf("resuming: got serving %d, want %d: time paused accrued", resumed.Serving, paused.Serving)
	}
	st := advance(t, s, queue.Seed{})
	// The fraction from before the pause may add one.
	if got, most := st.Serving-resumed.Serving, uint64(rate*st.At.Sub(resumed.At).Seconds())+1; got > most {
		t.Errorf("after resuming: got %d admitted at once, want at most %d: resuming released a burst", got, most)
	}
}

func testSetControlSettlesAtOldRate(t *testing.T, s queue.Store, _ func(string)) {
	const rate = 200.0
	joinMany(t, s, "v", 500, queue.Seed{})
	stopped := advance(t, s, queue.Seed{})
	time.Sleep(30 * time.Millisecond)
	c := queue.Control{RatePerSecond: rate}
	started := setControl(t, s, c, queue.Seed{})
	if started.Serving != stopped.Serving || started.Control != c {
		t.Errorf("starting: got serving %d control %+v, want %d %+v: time at rate 0 accrued",
			started.Serving, started.Control, stopped.Serving, c)
	}
	time.Sleep(30 * time.Millisecond)
	again := setControl(t, s, queue.Control{}, queue.Seed{})
	if got, want := float64(again.Serving-started.Serving), rate*again.At.Sub(started.At).Seconds(); math.Abs(got-want) > 1 {
		t.Errorf("stopping: got %v admitted, want %.2f ± 1 at the old rate", got, want)
	}
	time.Sleep(30 * time.Millisecond)
	if st := advance(t, s, queue.Seed{}); st.Serving != again.Serving || st.Control != (queue.Control{}) {
		t.Errorf("stopped: got serving %d control %+v, want %d and rate 0", st.Serving, st.Control, again.Serving)
	}
	if e := join(t, s, "late", queue.Seed{}); e.State.Control != (queue.Control{}) {
		t.Errorf("Join: got control %+v, want rate 0", e.State.Control)
	}
}

func testStateLossCarriesPlaces(t *testing.T, s queue.Store, forget func(string)) {
	old := joinMany(t, s, "a", 100, queue.Seed{})
	setControl(t, s, queue.Control{RatePerSecond: 100}, queue.Seed{})
	waitServing(t, s, 1)
	last := setControl(t, s, queue.Control{}, queue.Seed{}) // freeze serving
	if last.Serving >= last.Tail {
		t.Logf("the machine stalled: all %d served before the loss", last.Tail)
	}

	forget(event)
	seed := queue.Seed{Last: last}
	fresh := joinMany(t, s, "b", 100, seed)
	st := advance(t, s, seed)
	if st.Epoch <= last.Epoch || st.PrevEpoch != last.Epoch || st.Carried != last.Tail ||
		st.Serving != last.Serving || st.Tail != last.Tail+100 || st.Control != last.Control {
		t.Fatalf("re-created line: got %+v, want epoch > %d, prev epoch %d, carried %d, serving %d, tail %d, control %+v",
			st, last.Epoch, last.Epoch, last.Tail, last.Serving, last.Tail+100, last.Control)
	}
	for i, tk := range fresh {
		if want := last.Tail + uint64(i) + 1; tk.Seq != want || tk.Epoch != st.Epoch {
			t.Errorf("new ticket %d: got seq %d epoch %d, want %d %d", i, tk.Seq, tk.Epoch, want, st.Epoch)
		}
	}
	// Old tickets keep their places and order; no place is held twice.
	holders := make(map[uint64]string)
	var prev uint64
	for _, tk := range slices.Concat(old, fresh) {
		standing, pos := st.Place(tk)
		switch {
		case standing == queue.Lost:
			t.Errorf("ticket %+v: got Lost, want its place kept", tk)
		case tk.Seq <= st.Serving && standing != queue.Turn:
			t.Errorf("ticket %+v: got %v, want Turn", tk, standing)
		case tk.Seq > st.Serving && (standing != queue.Waiting || pos != tk.Seq-st.Serving):
			t.Errorf("ticket %+v: got %v at %d, want Waiting at %d", tk, standing, pos, tk.Seq-st.Serving)
		case standing == queue.Waiting && pos <= prev:
			t.Errorf("ticket %+v: got position %d after %d, want order kept", tk, pos, prev)
		}
		if standing == queue.Waiting {
			prev = pos
		}
		if h, ok := holders[tk.Seq]; ok {
			t.Errorf("seq %d held by %s and %s", tk.Seq, h, tk.Visitor)
		}
		holders[tk.Seq] = tk.Visitor
	}
	// The store forgot the old visitors: one who joins again gets a new
	// number, never a stale one.
	e := join(t, s, old[0].Visitor, seed)
	if e.Existing || e.Seq <= st.Tail {
		t.Errorf("old visitor joining again: got seq %d existing %v, want a new seq above %d", e.Seq, e.Existing, st.Tail)
	}
}

func testStateLossTwice(t *testing.T, s queue.Store, forget func(string)) {
	var last queue.State
	seen := make(map[uint64]bool)
	for round := range 3 {
		for _, tk := range joinMany(t, s, fmt.Sprint("r", round), 10, queue.Seed{Last: last}) {
			if seen[tk.Seq] || tk.Seq <= last.Tail {
				t.Errorf("round %d: got seq %d, want a number above %d never issued", round, tk.Seq, last.Tail)
			}
			seen[tk.Seq] = true
		}
		st := advance(t, s, queue.Seed{Last: last})
		if st.Epoch <= last.Epoch || st.PrevEpoch != last.Epoch || st.Carried != last.Tail {
			t.Errorf("round %d: got epoch %d prev %d carried %d, want epoch > %d prev %d carried %d",
				round, st.Epoch, st.PrevEpoch, st.Carried, last.Epoch, last.Epoch, last.Tail)
		}
		last = st
		forget(event)
	}
}

func testStateLossWithoutSeed(t *testing.T, s queue.Store, forget func(string)) {
	old := joinMany(t, s, "a", 10, queue.Seed{})
	forget(event)
	e := join(t, s, "b", queue.Seed{})
	if e.Seq != 1 || e.State.Epoch <= old[0].Epoch || e.State.PrevEpoch != 0 || e.State.Carried != 0 {
		t.Errorf("got seq %d epoch %d prev %d carried %d, want 1, > %d, 0, 0",
			e.Seq, e.State.Epoch, e.State.PrevEpoch, e.State.Carried, old[0].Epoch)
	}
	for _, tk := range old {
		if got, _ := e.State.Place(tk); got != queue.Lost {
			t.Errorf("ticket %+v: got %v, want Lost", tk, got)
		}
	}
}

func testEpochAboveSeed(t *testing.T, s queue.Store, forget func(string)) {
	// A seed from a store whose clock ran ahead still bounds the epoch.
	st := join(t, s, "a", queue.Seed{}).State
	ahead := st
	ahead.Epoch = uint64(st.At.Add(time.Hour).UnixMicro())
	forget(event)
	if got := advance(t, s, queue.Seed{Last: ahead}); got.Epoch != ahead.Epoch+1 {
		t.Errorf("got epoch %d, want %d", got.Epoch, ahead.Epoch+1)
	}
}

func testInvalidInput(t *testing.T, s queue.Store, _ func(string)) {
	ctx := t.Context()
	long := strings.Repeat("v", 65)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"JoinEmptyEvent", func() error { _, err := s.Join(ctx, "", "v", queue.Seed{}); return err }, queue.ErrInvalidEvent},
		{"JoinUpperEvent", func() error { _, err := s.Join(ctx, "Ev", "v", queue.Seed{}); return err }, queue.ErrInvalidEvent},
		{"JoinBraceEvent", func() error { _, err := s.Join(ctx, "e}v", "v", queue.Seed{}); return err }, queue.ErrInvalidEvent},
		{"JoinEmptyVisitor", func() error { _, err := s.Join(ctx, event, "", queue.Seed{}); return err }, queue.ErrInvalidVisitor},
		{"JoinBarVisitor", func() error { _, err := s.Join(ctx, event, "a|b", queue.Seed{}); return err }, queue.ErrInvalidVisitor},
		{"JoinLongVisitor", func() error { _, err := s.Join(ctx, event, long, queue.Seed{}); return err }, queue.ErrInvalidVisitor},
		{"AdvanceBadEvent", func() error { _, err := s.Advance(ctx, "a:b", queue.Seed{}); return err }, queue.ErrInvalidEvent},
		{"SetControlBadEvent", func() error {
			_, err := s.SetControl(ctx, "a b", queue.Control{}, queue.Seed{})
			return err
		}, queue.ErrInvalidEvent},
		{"SetControlNegativeRate", func() error {
			_, err := s.SetControl(ctx, event, queue.Control{RatePerSecond: -1}, queue.Seed{})
			return err
		}, queue.ErrInvalidControl},
		{"SetControlNaN", func() error {
			_, err := s.SetControl(ctx, event, queue.Control{RatePerSecond: math.NaN()}, queue.Seed{})
			return err
		}, queue.ErrInvalidControl},
		{"SetControlInf", func() error {
			_, err := s.SetControl(ctx, event, queue.Control{RatePerSecond: math.Inf(1)}, queue.Seed{})
			return err
		}, queue.ErrInvalidControl},
		{"JoinSeedNegativeRate", func() error {
			_, err := s.Join(ctx, event, "v", queue.Seed{Control: queue.Control{RatePerSecond: -1}})
			return err
		}, queue.ErrInvalidControl},
		{"AdvanceSeedLastNaN", func() error {
			_, err := s.Advance(ctx, event, queue.Seed{Last: queue.State{Epoch: 1, Control: queue.Control{RatePerSecond: math.NaN()}}})
			return err
		}, queue.ErrInvalidControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.call(); !errors.Is(got, tt.want) {
				t.Errorf("got error %v, want %v", got, tt.want)
			}
		})
	}
	// None of them created the line.
	if e := join(t, s, "v", queue.Seed{Control: queue.Control{RatePerSecond: 1}}); e.Seq != 1 || e.State.Control.RatePerSecond != 1 {
		t.Errorf("got seq %d control %+v, want a new line", e.Seq, e.State.Control)
	}
}

func testPing(t *testing.T, s queue.Store, _ func(string)) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func join(t *testing.T, s queue.Store, visitor string, seed queue.Seed) queue.Entry {
	t.Helper()
	e, err := s.Join(t.Context(), event, visitor, seed)
	if err != nil {
		t.Fatalf("Join(%q): %v", visitor, err)
	}
	return e
}

func advance(t *testing.T, s queue.Store, seed queue.Seed) queue.State {
	t.Helper()
	st, err := s.Advance(t.Context(), event, seed)
	if err != nil {
		t.Fatalf("Advance: %v", err)
	}
	return st
}

func setControl(t *testing.T, s queue.Store, c queue.Control, seed queue.Seed) queue.State {
	t.Helper()
	st, err := s.SetControl(t.Context(), event, c, seed)
	if err != nil {
		t.Fatalf("SetControl(%+v): %v", c, err)
	}
	return st
}

// waitServing advances until at least n are served.
func waitServing(t *testing.T, s queue.Store, n uint64) queue.State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := advance(t, s, queue.Seed{})
		if st.Serving >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("got serving %d after 10s, want %d", st.Serving, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// joinMany joins n visitors named prefix0..prefix<n-1> from a few goroutines
// and returns their tickets in order of sequence number.
func joinMany(t *testing.T, s queue.Store, prefix string, n int, seed queue.Seed) []queue.Ticket {
	t.Helper()
	const workers = 8
	tickets := make([]queue.Ticket, n)
	parallel(t, workers, func(w int) error {
		for i := w; i < n; i += workers {
			v := fmt.Sprint(prefix, i)
			e, err := s.Join(t.Context(), event, v, seed)
			if err != nil {
				return err
			}
			tickets[i] = queue.Ticket{Event: event, Visitor: v, Seq: e.Seq, Epoch: e.State.Epoch}
		}
		return nil
	})
	slices.SortFunc(tickets, func(a, b queue.Ticket) int { return cmp.Compare(a.Seq, b.Seq) })
	return tickets
}

// parallel runs f(0..n-1) on n goroutines and fails t with the first error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
