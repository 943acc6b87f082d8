package seating

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// healthWindow is the span of recent holds the health document describes.
const healthWindow = 10 * time.Second

// Health is the capacity signal admission follows: how fast and how well
// the seating core answers holds, and how many seats are left.
type Health struct {
	Status         string        `json:"status"` // "ok", or "degraded" when the store fails
	WindowSeconds  float64       `json:"window_seconds"`
	HoldsPerSecond float64       `json:"holds_per_second"`
	ErrorRate      float64       `json:"error_rate"`
	HoldLatencyMS  LatencyMS     `json:"hold_latency_ms"`
	Events         []EventHealth `json:"events"`
}

// LatencyMS are latency percentiles in milliseconds.
type LatencyMS struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// EventHealth is the inventory of one event, from the stand cache.
type EventHealth struct {
	Event     string `json:"event"`
	SeatsLeft int    `json:"seats_left"`
	SeatsHeld int    `json:"seats_held"`
	SeatsSold int    `json:"seats_sold"`
	Stale     bool   `json:"stale,omitempty"`
}

// Health computes the health document.
func (s *Server) Health(ctx context.Context) Health {
	lat, calls, failures := s.health.window(healthWindow)
	h := Health{Status: "ok", WindowSeconds: healthWindow.Seconds(), HoldsPerSecond: float64(calls) / healthWindow.Seconds()}
	if calls > 0 {
		h.ErrorRate = float64(failures) / float64(calls)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
		}
		h.HoldLatencyMS = LatencyMS{P50: pct(0.50), P95: pct(0.95), P99: pct(0.99)}
	}
	for _, rt := range s.order {
		eh := EventHealth{Event: rt.name}
		for _, st := range rt.stands {
			view, err := s.cache.Get(ctx, rt.name, st)
			if err != nil {
				h.Status = "degraded"
				eh.Stale = true
				continue
			}
			eh.Stale = eh.Stale || view.Stale
			for _, tc := range view.Snapshot.Tiers {
				eh.SeatsLeft += tc.Free
				eh.SeatsHeld += tc.Held
				eh.SeatsSold += tc.Sold
			}
		}
		if eh.Stale {
			h.Status = "degraded"
		}
		h.Events = append(h.Events, eh)
	}
	if h.ErrorRate > 0.05 {
		h.Status = "degraded"
	}
	return h
}

func (s *Server) serveHealth(ctx *fasthttp.RequestCtx) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	writeJSON(ctx, fasthttp.StatusOK, s.Health(c))
}

// healthTracker keeps the recent hold latencies and outcomes for the health
// document: a ring of the last observations. It is safe for concurrent use.
type healthTracker struct {
	now func() time.Time
	mu  sync.Mutex // guards ring and next
	// ring holds the recent observations, oldest overwritten first.
	ring [4096]observation
	next int
}

type observation struct {
	at      time.Time
	latency time.Duration
	failed  bool
	// shed marks a hold refused by Config.MaxInflightHolds before the store
	// was asked: a failure, but its latency says nothing of the core's.
	shed bool
}

func newHealthTracker(now func() time.Time) *healthTracker { return &healthTracker{now: now} }

// observe records one hold call. A conflict is an answer, not a failure.
func (t *healthTracker) observe(d time.Duration, err error) {
	failed := err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNoSeats) && !errors.Is(err, ErrCapExceeded)
	t.add(observation{at: t.now(), latency: d, failed: failed})
}

// observeShed records a hold refused for overload: a failed call that
// adds no latency, so the percentiles stay those of the holds the core
// decided, and a flood of quick refusals cannot make it look fast.
func (t *healthTracker) observeShed() {
	t.add(observation{at: t.now(), failed: true, shed: true})
}

func (t *healthTracker) add(o observation) {
	t.mu.Lock()
	t.ring[t.next%len(t.ring)] = o
	t.next++
	t.mu.Unlock()
}

// window returns, for the last span, the latencies of the holds the store
// decided, and how many hold calls were answered and how many of them
// failed, shed holds included.
func (t *healthTracker) window(span time.Duration) (lat []time.Duration, calls, failures int) {
	cutoff := t.now().Add(-span)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, o := range t.ring {
		if o.at.IsZero() || !o.at.After(cutoff) {
			continue
		}
		calls++
		if o.failed {
			failures++
		}
		if !o.shed {
			lat = append(lat, o.latency)
		}
	}
	return lat, calls, failures
}
