package loadtest

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func naiveInversions(s []int64) int64 {
	var n int64
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[i] > s[j] {
				n++
			}
		}
	}
	return n
}

func TestCountInversions(t *testing.T) {
	tests := []struct {
		name string
		in   []int64
		want int64
	}{
		{"empty", nil, 0},
		{"one", []int64{7}, 0},
		{"in order", []int64{1, 2, 3, 4, 5}, 0},
		{"reversed", []int64{5, 4, 3, 2, 1}, 10},
		{"one swap", []int64{2, 1, 3, 4}, 1},
		{"ties are not inversions", []int64{1, 1, 2, 2}, 0},
		{"known permutation", []int64{3, 1, 4, 2, 5}, 3}, // (3,1) (3,2) (4,2)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]int64(nil), tt.in...)
			if got := countInversions(tt.in); got != tt.want {
				t.Errorf("countInversions(%v) = %d, want %d", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("countInversions changed its input")
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 3, 10, 100, 1000} {
		for trial := range 5 {
			s := make([]int64, n)
			for i, p := range rng.Perm(n) {
				s[i] = int64(p)
			}
			if trial == 0 { // with ties
				for i := range s {
					s[i] /= 3
				}
			}
			if got, want := countInversions(s), naiveInversions(s); got != want {
				t.Errorf("n=%d trial %d: countInversions = %d, O(n²) reference %d", n, trial, got, want)
			}
		}
	}
}

func naiveDefinite(spans []joinSpan) int64 {
	var n int64
	for _, a := range spans {
		for _, b := range spans {
			if a.end < b.start && a.seq > b.seq {
				n++
			}
		}
	}
	return n
}

func TestDefiniteInversions(t *testing.T) {
	tests := []struct {
		name  string
		spans []joinSpan
		want  int64
	}{
		{"in order", []joinSpan{{0, 1, 1}, {2, 3, 2}, {4, 5, 3}}, 0},
		{"overlapping joins may go either way", []joinSpan{{0, 5, 2}, {1, 6, 1}}, 0},
		{"a later join got an earlier place", []joinSpan{{0, 1, 2}, {2, 3, 1}}, 1},
		{"reversed", []joinSpan{{0, 1, 3}, {2, 3, 2}, {4, 5, 1}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := definiteInversions(tt.spans); got != tt.want {
				t.Errorf("definiteInversions = %d, want %d", got, tt.want)
			}
		})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{2, 10, 200, 1000} {
		spans := make([]joinSpan, n)
		for i, p := range rng.Perm(n) {
			start := int32(rng.IntN(1000))
			spans[i] = joinSpan{start: start, end: start + int32(rng.IntN(50)), seq: int64(p / 2)}
		}
		if got, want := definiteInversions(spans), naiveDefinite(spans); got != want {
			t.Errorf("n=%d: definiteInversions = %d, O(n²) reference %d", n, got, want)
		}
	}
}

func TestKendallTau(t *testing.T) {
	perm := func(seqs ...int64) []joinSpan {
		s := make([]joinSpan, len(seqs))
		for i, q := range seqs {
			s[i] = joinSpan{start: int32(10 * i), end: int32(10*i + 1), seq: q}
		}
		return s
	}
	tests := []struct {
		name  string
		spans []joinSpan
		want  float64
	}{
		{"in order", perm(1, 2, 3, 4, 5, 6), 0},
		{"reversed", perm(4, 3, 2, 1), 1},
		{"one adjacent swap of 5", perm(1, 3, 2, 4, 5), 0.1},
		{"known permutation", perm(3, 1, 4, 2, 5), 0.3},
		{"single fan", perm(1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := definiteInversions(tt.spans)
			if got := kendallTau(inv, len(tt.spans)); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("tau = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestETAError(t *testing.T) {
	tests := []struct {
		name      string
		est, real float64
		want      float64
		ok        bool
	}{
		{"exact", 30, 30, 0, true},
		{"too optimistic", 10, 20, 0.5, true},
		{"too pessimistic", 30, 20, 0.5, true},
		{"unknown shown as 0", 0, 20, 1, true},
		{"real under a second is skipped", 3, 0.5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := etaError(tt.est, tt.real)
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("etaError(%v, %v) = %v, %v; want %v, %v", tt.est, tt.real, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct{ q, want float64 }{{0.5, 5}, {0.9, 9}, {1, 10}, {0, 1}} {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}

// linearTimeline is a timeline of a counter growing at rate/s from 0,
// observed twice a second at the given offsets.
func linearTimeline(secs int, rate func(sec float64) float64) timeline {
	tl := make(timeline, secs)
	v := 0.0
	for ms := int32(0); ms < int32(secs*1000); ms += 50 {
		v += rate(float64(ms)/1000) * 0.05
		if ms%500 == 250 {
			tl.observe(ms, int64(v))
		}
	}
	return tl
}

func TestRateWindows(t *testing.T) {
	const secs = 45
	steady := func(float64) float64 { return 100 }
	fast := func(s float64) float64 {
		if s >= 10 && s < 20 {
			return 120
		}
		return 100
	}
	waitingAll := make([]int64, secs)
	waitingGap := make([]int64, secs)
	for i := range waitingAll {
		waitingAll[i] = 5
		if i != 25 {
			waitingGap[i] = 5
		}
	}
	long := make([]float64, secs)  // a tail far ahead of serving
	short := make([]float64, secs) // the tail reached at 33 s (serving 3300)
	for i := range long {
		long[i], short[i] = 1e9, 3300
	}
	tests := []struct {
		name        string
		rate        func(float64) float64
		waiting     []int64
		tails       []float64
		wantCounted int
		wantWorst   float64
	}{
		{"steady at the configured rate", steady, waitingAll, long, 3, 0},
		{"one window 20 % fast", fast, waitingAll, long, 3, 0.2},
		{"a window where no fan waited does not count", steady, waitingGap, long, 2, 0},
		{"a window where the server's line ran dry does not count", steady, waitingAll, short, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := linearTimeline(secs, tt.rate)
			bounds := make([]float64, secs)
			known := make([]bool, secs)
			for s := range bounds {
				bounds[s], known[s] = tl.at(s)
			}
			counted, worst := 0, 0.0
			for _, w := range rateWindows(bounds, known, tt.tails, tt.waiting, 100) {
				if w.Counted {
					counted++
					worst = max(worst, w.Error)
				}
			}
			if counted != tt.wantCounted {
				t.Errorf("counted windows = %d, want %d", counted, tt.wantCounted)
			}
			if math.Abs(worst-tt.wantWorst) > 0.01 {
				t.Errorf("worst error = %.4f, want %.2f ± 0.01", worst, tt.wantWorst)
			}
		})
	}
}

func TestTimelineReached(t *testing.T) {
	tl := linearTimeline(20, func(float64) float64 { return 100 })
	bounds := make([]float64, 20)
	known := make([]bool, 20)
	for s := range bounds {
		bounds[s], known[s] = tl.at(s)
	}
	for _, seq := range []int64{150, 777, 1234} {
		got, ok := tl.reached(seq, bounds, known)
		want := int32(seq * 10) // 100/s: seq n is reached at n·10 ms
		if !ok || got < want-60 || got > want+60 {
			t.Errorf("reached(%d) = %d ms, %v; want %d ± 60 ms", seq, got, ok, want)
		}
	}
	if _, ok := tl.reached(1e9, bounds, known); ok {
		t.Errorf("reached a sequence never served")
	}
}

func TestConfigValidate(t *testing.T) {
	base := Config{Target: "http://127.0.0.1:8080", Event: "drop", Fans: 10}
	tests := []struct {
		name   string
		change func(*Config)
		field  string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no target", func(c *Config) { c.Target = "" }, "Target"},
		{"target not http", func(c *Config) { c.Target = "ftp://x" }, "Target"},
		{"seating target", func(c *Config) { c.SeatingTarget = "nohost" }, "SeatingTarget"},
		{"no event", func(c *Config) { c.Event = "" }, "Event"},
		{"event with slash", func(c *Config) { c.Event = "a/b" }, "Event"},
		{"no fans", func(c *Config) { c.Fans = 0 }, "Fans"},
		{"unknown arrival", func(c *Config) { c.Arrival = "wave" }, "Arrival"},
		{"csv without reader", func(c *Config) { c.Arrival = ArrivalCSV }, "ArrivalCSV"},
		{"csv without fans", func(c *Config) { c.Arrival, c.Fans, c.ArrivalCSV = ArrivalCSV, 0, strings.NewReader("1") }, ""},
		{"negative sale start", func(c *Config) { c.SaleStart = -time.Second }, "SaleStart"},
		{"abandon above 1", func(c *Config) { c.AbandonProbability = 1.5 }, "AbandonProbability"},
		{"jitter 1", func(c *Config) { c.PollJitter = 1 }, "PollJitter"},
		{"preference", func(c *Config) { c.SeatPreference = "cheap" }, "SeatPreference"},
		{"five seats", func(c *Config) { c.SeatsPerFan = 5 }, "SeatsPerFan"},
		{"confirm above 1", func(c *Config) { c.ConfirmProbability = 2 }, "ConfirmProbability"},
		{"negative conns", func(c *Config) { c.MaxConns = -1 }, "MaxConns"},
		{"negative rate", func(c *Config) { c.ConfiguredRate = -1 }, "ConfiguredRate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.field != "" && err == nil:
				t.Errorf("Validate() = nil, want an error naming %s", tt.field)
			case tt.field != "" && (!strings.HasPrefix(err.Error(), "loadtest: "+tt.field+" ") && !strings.HasPrefix(err.Error(), "loadtest: "+tt.field+":")):
				t.Errorf("Validate() = %q, want it to start with loadtest: %s", err, tt.field)
			}
		})
	}
}

func TestArrivals(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 20000
	span := 10 * time.Second
	tests := []struct {
		name       string
		arrival    string
		firstFifth [2]float64 // bounds on the share arriving in the first fifth
	}{
		{"burst is front-loaded", ArrivalBurst, [2]float64{0.48, 0.54}},
		{"poisson is even", ArrivalPoisson, [2]float64{0.18, 0.22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Fans: n, Arrival: tt.arrival, ArrivalDuration: span}
			got, err := c.arrivals(rng)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("got %d arrivals, want %d", len(got), n)
			}
			early := 0
			for i, a := range got {
				if a < 0 || a > span || (i > 0 && a < got[i-1]) {
					t.Fatalf("arrival %d = %v: want sorted within [0, %v]", i, a, span)
				}
				if a < span/5 {
					early++
				}
			}
			if share := float64(early) / n; share < tt.firstFifth[0] || share > tt.firstFifth[1] {
				t.Errorf("share in the first fifth = %.3f, want within %v", share, tt.firstFifth)
			}
		})
	}
	t.Run("csv", func(t *testing.T) {
		c := Config{Arrival: ArrivalCSV, ArrivalCSV: strings.NewReader("offset_seconds,who\n2.5,a\n0.25,b\n\n1,c\n")}
		got, err := c.arrivals(rng)
		want := []time.Duration{250 * time.Millisecond, time.Second, 2500 * time.Millisecond}
		if err != nil || len(got) != len(want) {
			t.Fatalf("arrivals = %v, %v; want %v", got, err, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("arrival %d = %v, want %v", i, got[i], want[i])
			}
		}
	})
	for _, bad := range []string{"1\nx\n", "-1\n", ""} {
		c := Config{Arrival: ArrivalCSV, ArrivalCSV: strings.NewReader(bad)}
		if _, err := c.arrivals(rng); err == nil || !strings.HasPrefix(err.Error(), "loadtest: arrival CSV") {
			t.Errorf("arrivals(%q) error = %v, want a loadtest: arrival CSV error", bad, err)
		}
	}
}
