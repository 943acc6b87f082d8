package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// feed drives e with a line refreshed every 100 ms for d, whose serving
// counter advances at rate(t) visitors per second (t in seconds since the
// start), with a line long enough never to empty. It returns the last state.
func feed(e *estimator, s queue.State, d time.Duration, rate func(t float64) float64) queue.State {
	if s.At.IsZero() {
		s.At = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	}
	if s.Epoch == 0 {
		s.Epoch = 1
	}
	if s.Tail == 0 {
		s.Tail = 1 << 40
	}
	var acc float64 // fractional admissions carried, as the store keeps them
	const step = 100 * time.Millisecond
	for t := step; t <= d; t += step {
		acc += rate(t.Seconds()) * step.Seconds()
		n := math.Floor(acc)
		acc -= n
		s.Serving += uint64(n)
		s.At = s.At.Add(step)
		e.observe(s)
	}
	return s
}

func constant(r float64) func(float64) float64 { return func(float64) float64 { return r } }

func TestEstimateSteadyRate(t *testing.T) {
	for _, rate := range []float64{0.5, 5, 50, 2000} {
		t.Run(strconvF(rate), func(t *testing.T) {
			var e estimator
			s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: rate}}, 3*time.Minute, constant(rate))
			position := uint64(rate * 600) // ten minutes of line
			w := e.estimate(s, position)
			if !w.Known || !w.Observed {
				t.Fatalf("got %+v, want a known estimate from the observed rate", w)
			}
			want := 10 * time.Minute
			if d := math.Abs(float64(w.Wait-want)) / float64(want); d > 0.03 {
				t.Errorf("wait: got %v, want %v within 3%%", w.Wait, want)
			}
			if !(w.Low <= w.Wait && w.Wait <= w.High) {
				t.Errorf("range [%v, %v] does not hold the estimate %v", w.Low, w.High, w.Wait)
			}
			// A steady rate is known well: the range is the minimum spread
			// (±5 % of the rate) or a little more for slow, grainy lines.
			if r := float64(w.High) / float64(w.Low); r > 1.25 {
				t.Errorf("range [%v, %v]: high/low = %.2f, want at most 1.25 for a steady rate", w.Low, w.High, r)
			}
			if e.falling() {
				t.Error("a steady rate reads as falling")
			}
		})
	}
}

func strconvF(f float64) string {
	b, _ := json.Marshal(f)
	return string(b) + "/s"
}

func TestEstimateNoisyRateIsWider(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// The rate is redrawn every second, uniform in [5, 95]: mean 50.
	var cur float64
	var next float64
	noisy := func(t float64) float64 {
		if t >= next {
			cur, next = 5+90*rng.Float64(), math.Floor(t)+1
		}
		return cur
	}
	var steady, noisyE estimator
	s1 := feed(&steady, queue.State{Control: queue.Control{RatePerSecond: 100}}, 3*time.Minute, constant(50))
	s2 := feed(&noisyE, queue.State{Control: queue.Control{RatePerSecond: 100}}, 3*time.Minute, noisy)
	ws, wn := steady.estimate(s1, 3000), noisyE.estimate(s2, 3000)
	if !wn.Known {
		t.Fatalf("noisy: got %+v, want a known estimate", wn)
	}
	if d := math.Abs(wn.Wait.Seconds()-60) / 60; d > 0.15 {
		t.Errorf("noisy wait: got %v, want 1m within 15%%", wn.Wait)
	}
	widthS := float64(ws.High-ws.Low) / float64(ws.Wait)
	widthN := float64(wn.High-wn.Low) / float64(wn.Wait)
	if widthN < 1.5*widthS {
		t.Errorf("relative width: noisy %.3f, steady %.3f; want the noisy one at least 1.5 times wider", widthN, widthS)
	}
	// The spread of the mean shrinks with a longer wait less than the
	// per-second noise does, but a longer wait is never less certain.
	wl := noisyE.estimate(s2, 300000)
	if rl := float64(wl.High-wl.Low) / float64(wl.Wait); rl > widthN+1e-9 {
		t.Errorf("relative width at a 100 times longer wait: got %.3f, want at most %.3f", rl, widthN)
	}
}

func TestEstimateUnknown(t *testing.T) {
	var e estimator
	s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 10}}, time.Minute, constant(10))
	cases := []struct {
		name     string
		change   func(*queue.State)
		position uint64
	}{
		{"paused", func(s *queue.State) { s.Control.Paused = true }, 100},
		{"sold out", func(s *queue.State) { s.Control.SoldOut = true }, 100},
		{"before the draw", func(s *queue.State) { s.Prequeue = true }, 100},
		{"rate 0", func(s *queue.State) { s.Control.RatePerSecond = 0 }, 100},
		{"no position", func(*queue.State) {}, 0},
		{"beyond a week", func(*queue.State) {}, 10 * 8 * 24 * 3600},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := s
			c.change(&st)
			if w := e.estimate(st, c.position); w.Known {
				t.Errorf("got %+v, want unknown", w)
			}
		})
	}
	if w := e.estimate(s, 100); !w.Known {
		t.Errorf("running: got %+v, want known", w)
	}
}

func TestEstimateFallback(t *testing.T) {
	cases := []struct {
		name string
		feed time.Duration
	}{
		{"no data", 0},
		{"too little data", 5 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e estimator
			s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 20}}, c.feed, constant(5))
			w := e.estimate(s, 1200)
			if !w.Known || w.Observed {
				t.Fatalf("got %+v, want a known estimate from the rate in force", w)
			}
			if w.Wait != time.Minute {
				t.Errorf("wait: got %v, want 1m (1200 at the 20/s in force)", w.Wait)
			}
			// Less certain: the range spans two thirds to twice the estimate.
			if w.Low != 40*time.Second || w.High != 2*time.Minute {
				t.Errorf("range: got [%v, %v], want [40s, 2m0s]", w.Low, w.High)
			}
		})
	}
}

func TestEstimateFollowsTheLine(t *testing.T) {
	t.Run("a lowered rate in force applies at once", func(t *testing.T) {
		var e estimator
		s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 100}}, time.Minute, constant(100))
		s.Control.RatePerSecond = 10
		if w := e.estimate(s, 600); w.Wait != time.Minute {
			t.Errorf("got %v, want 1m at the lowered 10/s", w.Wait)
		}
	})
	t.Run("a capped line is slower than its rate", func(t *testing.T) {
		var e estimator
		s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 100}}, 2*time.Minute, constant(25))
		if w := e.estimate(s, 1500); math.Abs(w.Wait.Seconds()-60) > 2 {
			t.Errorf("got %v, want about 1m at the observed 25/s", w.Wait)
		}
	})
	t.Run("an empty line says nothing of the rate", func(t *testing.T) {
		var e estimator
		s := queue.State{Epoch: 1, Tail: 1, Control: queue.Control{RatePerSecond: 100}}
		s = feed(&e, s, time.Minute, func(float64) float64 { return 0 })
		if w := e.estimate(s, 100); w.Observed {
			t.Errorf("got %+v, want the fallback: nobody waited", w)
		}
	})
	t.Run("a pause is not a slow rate", func(t *testing.T) {
		var e estimator
		s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 50}}, time.Minute, constant(50))
		s.Control.Paused = true
		s = feed(&e, s, 20*time.Second, func(float64) float64 { return 0 })
		s.Control.Paused = false
		s = feed(&e, s, 2*time.Second, constant(50))
		if w := e.estimate(s, 3000); math.Abs(w.Wait.Seconds()-60) > 3 {
			t.Errorf("after a pause: got %v, want about 1m at 50/s", w.Wait)
		}
	})
	t.Run("a new epoch starts over", func(t *testing.T) {
		var e estimator
		s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 50}}, time.Minute, constant(10))
		s.Epoch++
		s.Serving = 0
		e.observe(s)
		if w := e.estimate(s, 500); w.Observed || w.Wait != 10*time.Second {
			t.Errorf("got %+v, want the fallback at 50/s", w)
		}
	})
}

func TestEstimateFalling(t *testing.T) {
	ev := &event{cfg: Event{RatePerSecond: 100}}
	e := &ev.est
	s := feed(e, queue.State{Control: queue.Control{RatePerSecond: 100}}, 2*time.Minute, constant(100))
	if e.falling() {
		t.Fatal("falling at a steady rate")
	}
	s = feed(e, s, time.Minute, constant(40))
	if !e.falling() {
		t.Error("not falling a minute after the rate fell from 100/s to 40/s")
	}
	if got := noticeOf(ev, s); got != noticeRateLowered {
		t.Errorf("notice: got %q, want %s", got, noticeRateLowered)
	}
	feed(e, s, 20*time.Minute, constant(40))
	if e.falling() {
		t.Error("still falling twenty minutes after the rate settled at 40/s")
	}
}

func TestAppendETA(t *testing.T) {
	cases := []struct {
		w    waitEstimate
		want string
	}{
		{waitEstimate{}, `{"x":0,"eta_known":false}`},
		{waitEstimate{Known: true, Wait: 90*time.Second + 1, Low: 60*time.Second + 900*time.Millisecond, High: 120*time.Second + 1},
			`{"x":0,"eta_known":true,"eta_seconds":91,"eta_low_seconds":60,"eta_high_seconds":121}`},
	}
	for _, c := range cases {
		got := append(appendETA([]byte(`{"x":0`), c.w), '}')
		if !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}

// TestEstimateAllocs checks that a status poll's estimate allocates nothing.
func TestEstimateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	var e estimator
	s := feed(&e, queue.State{Control: queue.Control{RatePerSecond: 50}}, time.Minute, constant(50))
	buf := make([]byte, 0, 256)
	if a := testing.AllocsPerRun(1000, func() { buf = appendETA(buf[:0], e.estimate(s, 1234)) }); a != 0 {
		t.Errorf("got %v allocations per estimate, want 0", a)
	}
}

// TestEstimateWithLanes runs the estimator on a real line with two lanes of
// which only one is used: the serving counter skips the other lane's
// numbers, which admit nobody, so the rate is counted in visitors.
func TestEstimateWithLanes(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := queue.NewMemory(func() time.Time { return now })
	ctx := t.Context()
	seed := queue.Seed{Control: queue.Control{RatePerSecond: 10}, Lanes: []int{1, 1}}
	for i := range 2000 {
		if _, err := store.Join(ctx, "show", fmt.Sprintf("visitor-%08d", i), seed); err != nil {
			t.Fatal(err)
		}
	}
	var e estimator
	var st queue.State
	for range 600 { // a minute
		now = now.Add(100 * time.Millisecond)
		var err error
		if st, err = store.Advance(ctx, "show", seed); err != nil {
			t.Fatal(err)
		}
		e.observe(st)
	}
	if st.Lanes == nil {
		t.Fatal("the line has no lanes")
	}
	// The rate in force caps the estimate's rate, so look at the observed
	// one itself.
	if r := e.snap.Load().rate; math.Abs(r-10) > 0.5 {
		t.Errorf("observed rate: got %.2f a second, want 10 visitors a second", r)
	}
	w := e.estimate(st, 600)
	if !w.Observed || math.Abs(w.Wait.Seconds()-60) > 3 {
		t.Errorf("got %+v, want about 1m: 600 visitors at 10 a second", w)
	}
}
