package seating

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedStore is the real memory store with a gate in front of Hold: each
// hold announces itself on entered and waits for open to close, so a test
// knows exactly how many holds are being decided.
type gatedStore struct {
	Store
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedStore) Hold(ctx context.Context, event, stand string, req HoldRequest) (Hold, error) {
	g.entered <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return Hold{}, ctx.Err()
	}
	return g.Store.Hold(ctx, event, stand, req)
}

// TestAPIMaxInflightHolds: with max_inflight_holds holds being decided, the
// next hold is refused at once with 503 overloaded and Retry-After, counted
// as a failed hold in the health document and in the metrics; once the
// holds in flight end, holds are taken again.
func TestAPIMaxInflightHolds(t *testing.T) {
	mem := NewMemory(nil)
	h := newAPIHarness(t, mem, NewMemoryShared(nil))
	const limit = 2
	gate := &gatedStore{Store: mem, entered: make(chan struct{}, limit), open: make(chan struct{})}
	h.srv.store = gate
	h.srv.cfg.MaxInflightHolds = limit
	tok := h.token("v", "show")

	var wg sync.WaitGroup
	replies := make([]apiReply, limit)
	for i := range limit {
		wg.Go(func() {
			replies[i] = h.do("POST", api+"/holds", tok, fmt.Sprintf(`{"seats":["N1-1-%d"]}`, i+1))
		})
	}
	for range limit {
		select {
		case <-gate.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the first holds never reached the store")
		}
	}

	r := h.do("POST", api+"/holds", tok, `{"seats":["N1-1-9"]}`)
	if r.status != 503 || r.code(t) != "overloaded" {
		t.Errorf("hold beyond the bound: got %d %s, want 503 overloaded", r.status, r.body)
	}
	if got := r.headers["Retry-After"]; got != "1" {
		t.Errorf("Retry-After: got %q, want %q", got, "1")
	}
	doc := h.srv.Health(context.Background())
	if doc.ErrorRate != 1 || doc.Status != "degraded" {
		t.Errorf("health after one refusal and no decided hold: got error_rate %v, status %q; want 1, degraded", doc.ErrorRate, doc.Status)
	}
	if doc.HoldLatencyMS.P99 != 0 {
		t.Errorf("hold p99 with only a refusal: got %v ms, want 0 (a refusal has no latency of its own)", doc.HoldLatencyMS.P99)
	}

	close(gate.open)
	wg.Wait()
	for i, r := range replies {
		if r.status != 201 {
			t.Errorf("hold %d in flight: got %d %s, want 201", i, r.status, r.body)
		}
	}
	gate.entered = make(chan struct{}, 1) // the gate is open; let the next hold pass
	if r := h.do("POST", api+"/holds", tok, `{"seats":["N1-2-1"]}`); r.status != 201 {
		t.Errorf("hold after the holds in flight ended: got %d %s, want 201", r.status, r.body)
	}
	doc = h.srv.Health(context.Background())
	if got, want := doc.ErrorRate, 0.25; got != want {
		t.Errorf("health error_rate: got %v, want %v (1 refused of 4)", got, want)
	}
	if got, want := doc.HoldsPerSecond*doc.WindowSeconds, 4.0; got != want {
		t.Errorf("hold calls in the window: got %v, want %v", got, want)
	}
	if got := cacheCounter(t, h.srv.m.holds.WithLabelValues("overloaded")); got != 1 {
		t.Errorf(`foyer_seating_holds_total{result="overloaded"}: got %v, want 1`, got)
	}
	if got := h.srv.holding.Load(); got != 0 {
		t.Errorf("holds counted in flight after all ended: got %d, want 0", got)
	}
}

func TestConfigMaxInflightHolds(t *testing.T) {
	venue, err := Generate(GenerateConfig{Seats: 100, Stands: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit   int
		wantErr string
	}{
		{0, ""},
		{64, ""},
		{-1, "seating: max_inflight_holds: must be 0 (no bound) or more, got -1"},
	} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			err := Config{Events: []Event{{Name: "show", Venue: venue}}, MaxInflightHolds: tc.limit}.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
