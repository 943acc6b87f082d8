package seating

import (
	"context"
	"slices"
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
	lat, failures := s.health.window(healthWindow)
	h := Health{Status: "ok", WindowSeconds: healthWindow.Seconds(), HoldsPerSecond: float64(len(lat)) / healthWindow.Seconds()}
	if len(lat) > 0 {
		h.ErrorRate = float64(failures) / float64(len(lat))
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
