package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// runFake runs cfg against d, filling in the target and event.
func runFake(t *testing.T, d *fakeDeployment, cfg Config) *Result {
	t.Helper()
	cfg.Target, cfg.Event = d.serve(t), "drop"
	if cfg.Duration == 0 {
		cfg.Duration = 20 * time.Second
	}
	var progress bytes.Buffer
	r, err := Run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if testing.Verbose() {
		var b strings.Builder
		_ = Summary(&b, r)
		t.Logf("progress:\n%s\nsummary:\n%s", progress.String(), b.String())
	}
	return r
}

func TestRunJourney(t *testing.T) {
	tests := []struct {
		name string
		d    *fakeDeployment
		cfg  Config
		// what the run must show
		wantSeating bool
		wantWindows bool
	}{
		{
			name:        "hot seats against a line at 200/s",
			d:           &fakeDeployment{rate: 200, maxRefresh: time.Second},
			cfg:         Config{Fans: 2400, ArrivalDuration: time.Second, ConfiguredRate: 200, ThinkTime: 50 * time.Millisecond},
			wantSeating: true, wantWindows: true,
		},
		{
			name: "best available, poisson, releasing, rate not given",
			d:    &fakeDeployment{rate: 300},
			cfg: Config{Fans: 1000, Arrival: ArrivalPoisson, ArrivalDuration: 500 * time.Millisecond, SeatPreference: SeatsBest,
				ConfirmProbability: 0.5, ReleaseUnconfirmed: true, RevalidateVenue: true, ThinkTime: -1},
			wantSeating: true,
		},
		{
			name: "no seating at the target",
			d:    &fakeDeployment{rate: 1000, noSeating: true},
			cfg:  Config{Fans: 500, ArrivalDuration: 200 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFake(t, tt.d, tt.cfg)
			if r.Joined != tt.cfg.Fans || r.Admitted != tt.cfg.Fans || r.Failed != 0 || r.Unfinished != 0 {
				t.Errorf("joined %d admitted %d failed %d unfinished %d, want all %d fans joined and admitted",
					r.Joined, r.Admitted, r.Failed, r.Unfinished, tt.cfg.Fans)
			}
			if len(r.Errors) != 0 {
				t.Errorf("errors = %v, want none", r.Errors)
			}
			if r.KendallTau != 0 || r.Inversions != 0 || r.OutOfTurn != 0 {
				t.Errorf("tau %v, inversions %d, out of turn %d: want an in-order line to show 0", r.KendallTau, r.Inversions, r.OutOfTurn)
			}
			if r.FairnessFans < tt.cfg.Fans/2 {
				t.Errorf("fairness covers %d fans, want most of %d", r.FairnessFans, tt.cfg.Fans)
			}
			if r.Oversold != 0 {
				t.Errorf("oversold = %d, want 0", r.Oversold)
			}
			if tt.wantSeating {
				if r.SeatsSold == 0 || r.SeatingSkipped != "" || r.LatencyMS["hold"].Count == 0 {
					t.Errorf("seats sold %d, skipped %q, holds %d: want a seating journey", r.SeatsSold, r.SeatingSkipped, r.LatencyMS["hold"].Count)
				}
			} else if !strings.Contains(r.SeatingSkipped, "404") || r.SeatsSold != 0 {
				t.Errorf("seating skipped %q, sold %d: want it skipped on the venue's 404", r.SeatingSkipped, r.SeatsSold)
			}
			if tt.wantWindows {
				counted := 0
				for _, w := range r.Windows {
					if w.Counted {
						counted++
					}
				}
				if counted == 0 || r.RateError > 0.05 {
					t.Errorf("%d counted windows, rate error %.3f: want ≥ 1 window within 5 %%", counted, r.RateError)
				}
				if r.AdmittedPerSecond < 190 || r.AdmittedPerSecond > 210 {
					t.Errorf("admitted per second = %.1f, want 200 ± 5 %%", r.AdmittedPerSecond)
				}
				// The fake's estimate is position ÷ rate, rounded up: honest.
				if r.ETASamples == 0 || r.ETAErrorMedian > 0.15 {
					t.Errorf("ETA error median %.3f over %d estimates, want ≤ 0.15", r.ETAErrorMedian, r.ETASamples)
				}
			}
			if len(r.Series) == 0 || r.LatencyMS["status"].Count == 0 && r.LatencyMS["join"].Count == 0 {
				t.Errorf("no series or latencies recorded")
			}
			var b bytes.Buffer
			if err := WriteJSON(&b, r); err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(b.Bytes(), &back); err != nil {
				t.Fatalf("WriteJSON wrote invalid JSON: %v", err)
			}
			for _, k := range []string{"fans", "joined", "admitted", "abandoned", "seats_sold", "oversold", "configured_rate",
				"admitted_per_second", "rate_error", "kendall_tau", "eta_error_median", "eta_error_p90", "latency_ms"} {
				if _, ok := back[k]; !ok {
					t.Errorf("JSON lacks the field %q", k)
				}
			}
		})
	}
}

func TestRunDetectsOversell(t *testing.T) {
	d := fakeDeployment{rate: 2000, buggySeat: "S1-1-1"}
	r := runFake(t, &d, Config{Fans: 300, ArrivalDuration: 300 * time.Millisecond, SeatsPerFan: 1,
		ConfirmProbability: 1, ThinkTime: -1, SeatPreference: SeatsHot})
	if r.Oversold != 1 {
		t.Errorf("oversold = %d, want 1 (seat S1-1-1 sold to several fans)", r.Oversold)
	}
}

func TestRunAbandonment(t *testing.T) {
	tests := []struct {
		name        string
		p           float64
		maxAdmitted int // fans admitted (the few let in at once never poll, so never abandon)
		minAdmitted int
	}{
		{"nobody gives up", 0, 400, 400},
		{"everybody in line gives up at the first poll", 1, 40, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fakeDeployment{rate: 400}
			r := runFake(t, &d, Config{Fans: 400, ArrivalDuration: 100 * time.Millisecond, AbandonProbability: tt.p, SeatingDisabled: true})
			if r.Abandoned+r.Admitted != r.Fans {
				t.Errorf("abandoned %d + admitted %d != fans %d", r.Abandoned, r.Admitted, r.Fans)
			}
			if r.Admitted < tt.minAdmitted || r.Admitted > tt.maxAdmitted {
				t.Errorf("admitted %d, want %d to %d", r.Admitted, tt.minAdmitted, tt.maxAdmitted)
			}
			if r.SeatingSkipped != "disabled" {
				t.Errorf("seating skipped %q, want disabled", r.SeatingSkipped)
			}
		})
	}
}

// TestRunShowsStalls is the self-test of issue 4: the tool does not hide
// stalls. Against a server whose every answer takes 2 s, the p99 is at
// least 2 s and the fans keep sending before any answer came back (open
// model). Against a server that freezes for 2 s, each request scheduled
// during the freeze records the part of it that it lived through, from its
// scheduled time, including the time it queued for a worker.
func TestRunShowsStalls(t *testing.T) {
	tests := []struct {
		name string
		d    *fakeDeployment
		cfg  Config
		// checks on the join latency and on the requests the server saw
		minP99, minP50, minMax float64 // ms
		minDuringStall         int64
	}{
		{
			name:   "every answer takes 2 s",
			d:      &fakeDeployment{rate: 5000, delay: 2 * time.Second},
			cfg:    Config{Fans: 200, Arrival: ArrivalPoisson, ArrivalDuration: 500 * time.Millisecond, SeatingDisabled: true, MaxConns: 256},
			minP99: 2000, minP50: 2000, minMax: 2000,
			// Every join is sent before the first answer comes back.
			minDuringStall: 200,
		},
		{
			name: "the server freezes for 2 s",
			d:    &fakeDeployment{rate: 5000, stallFrom: 500 * time.Millisecond, stallFor: 2 * time.Second},
			cfg:  Config{Fans: 300, Arrival: ArrivalPoisson, ArrivalDuration: 3 * time.Second, SeatingDisabled: true, MaxConns: 64},
			// About 200 of 300 joins fall in the freeze and wait for its
			// end: latencies spread evenly over 0–2 s; the first waits 2 s.
			minP99: 1800, minP50: 300, minMax: 1950,
			// 64 connections: 64 requests reach the frozen server, the
			// others queue in the client, their wait counted.
			minDuringStall: 60,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runFake(t, tt.d, tt.cfg)
			join := r.LatencyMS["join"]
			if join.P99 < tt.minP99 || join.P50 < tt.minP50 || join.Max < tt.minMax {
				t.Errorf("join p50 %.1f p99 %.1f max %.1f ms, want at least %.0f, %.0f, %.0f: the stall is hidden",
					join.P50, join.P99, join.Max, tt.minP50, tt.minP99, tt.minMax)
			}
			if n := tt.d.duringStall.Load(); n < tt.minDuringStall {
				t.Errorf("%d requests reached the server during the stall, want ≥ %d: sending waited for answers", n, tt.minDuringStall)
			}
			if r.Admitted != r.Fans {
				t.Errorf("admitted %d of %d", r.Admitted, r.Fans)
			}
		})
	}
}

// TestFanMemory checks what a million-fan run costs before any request:
// the fans' state and the arrival schedule.
func TestFanMemory(t *testing.T) {
	if got := unsafe.Sizeof(fan{}); got > 112 {
		t.Errorf("a fan is %d bytes, want at most 112", got)
	}
	const n = 200000
	cfg := Config{Target: "http://127.0.0.1:1", Event: "drop", Fans: n}.withDefaults()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	arrivals, err := cfg.arrivals(rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(cfg, arrivals)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perFan := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d fans: %.0f B a fan before any request (fan %d B, arrival 8 B, fixed: histograms)", n, perFan, unsafe.Sizeof(fan{}))
	if perFan > 160 {
		t.Errorf("%.0f B a fan, want ≤ 160", perFan)
	}
	runtime.KeepAlive(e)
}

// TestRunManyFans runs 20,000 fans through the whole journey and reports
// the time, the requests and the peak heap per fan.
func TestRunManyFans(t *testing.T) {
	fans := 20000
	if raceEnabled || testing.Short() {
		fans = 4000 // the race detector slows every request ~10×
	}
	d := fakeDeployment{rate: float64(fans) / 2, minRefresh: 200 * time.Millisecond, maxRefresh: 500 * time.Millisecond}
	var peak atomic.Uint64
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
			}
		}
	})
	start := time.Now()
	r := runFake(t, &d, Config{Fans: fans, ArrivalDuration: time.Second, ThinkTime: -1, SeatPreference: SeatsSpread, ConfiguredRate: d.rate})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	var requests int64
	for _, l := range r.LatencyMS {
		requests += l.Count
	}
	perFan := float64(peak.Load()-min(base, peak.Load())) / float64(fans)
	t.Logf("%d fans in %v: %d requests (%.0f/s), joined %d admitted %d sold %d, status p99 %.1f ms; peak heap %.1f MiB above the start, %.0f B a fan (fan struct %d B)",
		fans, elapsed.Round(time.Millisecond), requests, float64(requests)/elapsed.Seconds(), r.Joined, r.Admitted, r.SeatsSold,
		r.LatencyMS["status"].P99, float64(peak.Load()-min(base, peak.Load()))/(1<<20), perFan, unsafe.Sizeof(fan{}))
	if r.Admitted != fans || r.Oversold != 0 {
		t.Errorf("admitted %d of %d, oversold %d", r.Admitted, fans, r.Oversold)
	}
	if !raceEnabled && elapsed > 15*time.Second {
		t.Errorf("%d fans took %v, want a few seconds", fans, elapsed)
	}
	// The heap includes the fake server, the client's buffers and the
	// histograms: bound it generously, per fan.
	if !raceEnabled && perFan > 4096 {
		t.Errorf("peak heap %.0f B a fan, want ≤ 4 KiB", perFan)
	}
}
