package proxy

import (
	"math"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// TestRefreshAfterJitter checks that refresh_after_ms spreads ±20 % around
// its base, over the whole range, so fans who joined together drift apart.
func TestRefreshAfterJitter(t *testing.T) {
	cases := []struct {
		name  string
		eta   time.Duration
		known bool
		base  time.Duration
	}{
		{"unknown", 0, false, 5 * time.Second},
		{"near", 2 * time.Second, true, time.Second},
		{"quarter", 20 * time.Second, true, 5 * time.Second},
		{"far", time.Hour, true, 10 * time.Second},
	}
	const n = 20000
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lo, hi := math.Inf(1), math.Inf(-1)
			var sum float64
			var buckets [10]int // tenths of the ±20 % range
			for range n {
				r := float64(refreshAfter(c.eta, c.known)) / float64(c.base)
				lo, hi, sum = min(lo, r), max(hi, r), sum+r
				buckets[min(int((r-0.8)/0.04), 9)]++
			}
			if lo < 0.8 || hi > 1.2 {
				t.Errorf("got range [%.3f, %.3f] of the base, want within [0.8, 1.2]", lo, hi)
			}
			if lo > 0.81 || hi < 1.19 {
				t.Errorf("got range [%.3f, %.3f] of the base, want it to reach both ends of ±20%%", lo, hi)
			}
			if mean := sum / n; math.Abs(mean-1) > 0.01 {
				t.Errorf("got mean %.4f of the base, want 1 ± 0.01", mean)
			}
			for i, b := range buckets {
				if b < n/10*8/10 || b > n/10*12/10 {
					t.Errorf("bucket %d holds %d of %d samples, want about %d: the jitter is not uniform", i, b, n, n/10)
				}
			}
		})
	}
}

func TestNotice(t *testing.T) {
	ev := &event{cfg: Event{RatePerSecond: 100}}
	cases := []struct {
		name    string
		control queue.Control
		want    string
	}{
		{"configured rate", queue.Control{RatePerSecond: 100}, ""},
		{"raised rate", queue.Control{RatePerSecond: 200}, ""},
		{"lowered rate", queue.Control{RatePerSecond: 40}, "rate_lowered"},
		{"paused", queue.Control{RatePerSecond: 100, Paused: true}, "paused"},
		{"paused and lowered", queue.Control{RatePerSecond: 1, Paused: true}, "paused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := noticeOf(ev, queue.State{Control: c.control}); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestStatusCarriesNotice(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	ticket := h.joinN("show", 1)
	if doc := h.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket).json(t); doc["notice"] != nil {
		t.Errorf("at the configured rate: got notice %v, want none", doc["notice"])
	}
	h2 := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 10 })
	h2.setRate("show", 0)
	h2.waitRefresh("show")
	h2.waitRefresh("show")
	ticket = h2.joinN("show", 1)
	if doc := h2.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket).json(t); doc["notice"] != "rate_lowered" {
		t.Errorf("below the configured rate: got %v, want notice rate_lowered", doc)
	}
}
