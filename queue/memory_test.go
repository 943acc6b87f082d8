package queue_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/testclock"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/queue/queuetest"
)

func TestMemoryConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) (queue.Store, func(string)) {
		m := queue.NewMemory(nil)
		return m, m.Forget
	})
}

func newClock() *testclock.Clock { return testclock.New(time.Unix(1_700_000_000, 0)) }

func TestMemoryAdvanceExact(t *testing.T) {
	tests := []struct {
		name        string
		rate        float64
		step        time.Duration
		steps       int
		tail        int
		wantServing uint64
	}{
		{"WholeRate", 10, time.Second, 5, 1000, 50},
		{"HalfPerSecond", 0.5, time.Second, 1001, 1000, 500},
		{"TenthsAddUp", 1, 100 * time.Millisecond, 100, 1000, 10},
		{"PointThree", 0.3, time.Second, 1000, 1000, 300},
		{"OneThird", 1.0 / 3, time.Second, 300, 1000, 100},
		{"Microseconds", 1000, time.Microsecond, 10_000, 1000, 10},
		{"CappedAtTail", 1000, time.Second, 3, 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := queue.NewMemory(clk.Now)
			ctx := t.Context()
			for i := range tt.tail {
				if _, err := m.Join(ctx, "ev", fmt.Sprint("v", i), queue.Seed{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := m.SetControl(ctx, "ev", queue.Control{RatePerSecond: tt.rate}, queue.Seed{}); err != nil {
				t.Fatal(err)
			}
			var st queue.State
			for range tt.steps {
				clk.Add(tt.step)
				var err error
				if st, err = m.Advance(ctx, "ev", queue.Seed{}); err != nil {
					t.Fatal(err)
				}
				if st.Serving > st.Tail {
					t.Fatalf("got serving %d above tail %d", st.Serving, st.Tail)
				}
			}
			if st.Serving != tt.wantServing {
				t.Errorf("got serving %d, want %d", st.Serving, tt.wantServing)
			}
		})
	}
}

// TestMemoryTimeline plays steps on a settable clock, checking the serving
// counter after each: capacity on an empty line, pauses, rate changes and a
// clock that goes back.
func TestMemoryTimeline(t *testing.T) {
	type step struct {
		wait        time.Duration
		op          string // "join", "advance", or "control"
		control     queue.Control
		wantServing uint64
	}
	rate1 := queue.Control{RatePerSecond: 1}
	tests := []struct {
		name  string
		steps []step
	}{
		{"EmptyLineBanksNothing", []step{
			{0, "control", rate1, 0},
			{0, "join", rate1, 0},
			{time.Second, "advance", rate1, 1},
			{10 * time.Second, "advance", rate1, 1},
			{10 * time.Second, "join", rate1, 1}, // 10 s unsettled on an empty line
			{0, "join", rate1, 1},
			{500 * time.Millisecond, "advance", rate1, 1},
			{500 * time.Millisecond, "advance", rate1, 2},
			{time.Second, "advance", rate1, 3},
		}},
		{"FractionDroppedWhenEmpty", []step{
			{0, "control", rate1, 0},
			{0, "join", rate1, 0},
			{1500 * time.Millisecond, "advance", rate1, 1}, // 0.5 left over, line empty
			{0, "join", rate1, 1},
			{500 * time.Millisecond, "advance", rate1, 1},
			{500 * time.Millisecond, "advance", rate1, 2},
		}},
		{"PauseAccruesNothing", []step{
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "control", rate1, 0},
			{1500 * time.Millisecond, "control", queue.Control{RatePerSecond: 1, Paused: true}, 1},
			{time.Hour, "advance", rate1, 1},
			{time.Hour, "control", rate1, 1},
			{400 * time.Millisecond, "advance", rate1, 1},
			{100 * time.Millisecond, "advance", rate1, 2}, // 0.5 before the pause + 0.5
		}},
		{"RateChangeSettlesFirst", []step{
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "control", rate1, 0},
			{2 * time.Second, "control", queue.Control{RatePerSecond: 0.1}, 2},
			{5 * time.Second, "advance", rate1, 2},
			{5 * time.Second, "advance", rate1, 3},
		}},
		{"ClockGoesBack", []step{
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "join", rate1, 0},
			{0, "control", rate1, 0},
			{-5 * time.Second, "advance", rate1, 0},
			{5 * time.Second, "advance", rate1, 0},
			{time.Second, "advance", rate1, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := queue.NewMemory(clk.Now)
			ctx := t.Context()
			for i, s := range tt.steps {
				clk.Add(s.wait)
				var st queue.State
				var err error
				switch s.op {
				case "join":
					var e queue.Entry
					e, err = m.Join(ctx, "ev", fmt.Sprint("v", i), queue.Seed{})
					st = e.State
				case "advance":
					st, err = m.Advance(ctx, "ev", queue.Seed{})
				case "control":
					st, err = m.SetControl(ctx, "ev", s.control, queue.Seed{})
				}
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.op, err)
				}
				if st.Serving != s.wantServing {
					t.Errorf("step %d (%s after %v): got serving %d, want %d", i, s.op, s.wait, st.Serving, s.wantServing)
				}
			}
		})
	}
}

func TestMemoryEpochFromClock(t *testing.T) {
	start := newClock().Now()
	now := uint64(start.UnixMicro())
	tests := []struct {
		name      string
		lastEpoch uint64
		wantEpoch uint64
		wantPrev  uint64
	}{
		{"NeverSeen", 0, now, 0},
		{"SeedBehindClock", 1, now, 1},
		{"SeedAtClock", now, now + 1, now},
		{"SeedAheadOfClock", now + 5e6, now + 5e6 + 1, now + 5e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			m := queue.NewMemory(clk.Now)
			st, err := m.Advance(t.Context(), "ev", queue.Seed{Last: queue.State{Epoch: tt.lastEpoch, Tail: 3}})
			if err != nil {
				t.Fatal(err)
			}
			if st.Epoch != tt.wantEpoch || st.PrevEpoch != tt.wantPrev {
				t.Errorf("got epoch %d prev %d, want %d %d", st.Epoch, st.PrevEpoch, tt.wantEpoch, tt.wantPrev)
			}
			if !st.At.Equal(start) {
				t.Errorf("got At %v, want the clock %v", st.At, start)
			}
		})
	}
}

// TestMemoryEpochGrowsWithStoppedClock checks that a line lost and re-created
// within one tick of the clock still gets a new epoch, so places of the lost
// line are never mistaken for places of the new one.
func TestMemoryEpochGrowsWithStoppedClock(t *testing.T) {
	clk := newClock()
	m := queue.NewMemory(clk.Now)
	var prev uint64
	for i := range 3 {
		e, err := m.Join(t.Context(), "ev", "a", queue.Seed{})
		if err != nil {
			t.Fatal(err)
		}
		if e.State.Epoch <= prev {
			t.Errorf("round %d: got epoch %d, want above %d", i, e.State.Epoch, prev)
		}
		prev = e.State.Epoch
		m.Forget("ev")
	}
}

// TestMemoryForgetWhileJoining checks that joins racing with Forget land in
// exactly one epoch each, with no number issued twice in an epoch.
func TestMemoryForgetWhileJoining(t *testing.T) {
	m := queue.NewMemory(nil)
	ctx := t.Context()
	const workers, each = 8, 200
	var mu sync.Mutex // guards seen
	seen := make(map[[2]uint64]string)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				v := fmt.Sprintf("v%d-%d", w, i)
				e, err := m.Join(ctx, "ev", v, queue.Seed{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				k := [2]uint64{e.State.Epoch, e.Seq}
				if prev, ok := seen[k]; ok {
					t.Errorf("epoch %d seq %d issued to %s and %s", k[0], k[1], prev, v)
				}
				seen[k] = v
				mu.Unlock()
			}
		})
	}
	for range 20 {
		m.Forget("ev")
		time.Sleep(100 * time.Microsecond)
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("got %d places, want %d", len(seen), workers*each)
	}
}

func BenchmarkMemoryJoin(b *testing.B) {
	m := queue.NewMemory(nil)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = queue.NewVisitorID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := m.Join(b.Context(), "ev", ids[i], queue.Seed{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryJoinParallel(b *testing.B) {
	m := queue.NewMemory(nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Join(b.Context(), "ev", queue.NewVisitorID(), queue.Seed{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
