package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeScenario writes a scenario file of body and returns its path.
func writeScenario(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sc.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const adaptiveScenario = `name: adaptive-test
event: show
fans: 100
rate_per_second: 20
adaptive:
  min_rate: 10
  max_rate: 90
  hold_latency_objective: 80ms
  decrease: 0.9
venue: {seats: 400, stands: 2}
seating:
  max_inflight_holds: 12
capacity_model:
  hold_cost: 40ms
  workers: 4
`

func TestScenarioAdaptiveAndCapacity(t *testing.T) {
	sc, err := loadScenario(writeScenario(t, adaptiveScenario))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Seating.MaxInflightHolds, 12; got != want {
		t.Errorf("seating.max_inflight_holds: got %d, want %d", got, want)
	}
	if got, want := sc.CapacityModel.holdsPerSecond(), 100.0; got != want {
		t.Errorf("capacity model: got %v holds/s, want %v", got, want)
	}
	ev := sc.proxyEvent("http://127.0.0.1:9")
	a := ev.Adaptive
	if a == nil {
		t.Fatal("adaptive section not passed to the proxy's event")
	}
	if a.MinRate != 10 || a.MaxRate != 90 || a.HoldLatencyObjective != 80*time.Millisecond || a.Decrease != 0.9 {
		t.Errorf("adaptive: got %+v", *a)
	}
	if got, want := a.HealthURL, "http://127.0.0.1:9/seating/v1/health"; got != want {
		t.Errorf("health_url: got %q, want %q (the rehearsal's seating service)", got, want)
	}
	if got := sc.config("http://x").ConfiguredRate; got != 0 {
		t.Errorf("the load test's configured rate with the controller on: got %v, want 0 (estimated)", got)
	}

	fixed, err := loadScenario(writeScenario(t, "fans: 10\nrate_per_second: 40\n"))
	if err != nil {
		t.Fatal(err)
	}
	if fixed.proxyEvent("http://h").Adaptive != nil {
		t.Error("a scenario without an adaptive section runs the controller")
	}
	if got := fixed.config("http://x").ConfiguredRate; got != 40 {
		t.Errorf("configured rate of a fixed scenario: got %v, want 40", got)
	}
}

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantField string
	}{
		{"no max_rate", "fans: 10\nrate_per_second: 5\nadaptive: {min_rate: 1}\n", "adaptive.max_rate"},
		{"start outside the bounds", "fans: 10\nrate_per_second: 500\nadaptive: {min_rate: 1, max_rate: 100}\n", "rate_per_second"},
		{"bad decrease", "fans: 10\nrate_per_second: 5\nadaptive: {max_rate: 100, decrease: 1.5}\n", "adaptive.decrease"},
		{"negative inflight bound", "fans: 10\nrate_per_second: 5\nseating: {max_inflight_holds: -1}\n", "seating.max_inflight_holds"},
		{"cost without workers", "fans: 10\nrate_per_second: 5\ncapacity_model: {hold_cost: 20ms}\n", "capacity_model.workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadScenario(writeScenario(t, tc.body))
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a configError", err)
			}
			if ce.Field != tc.wantField {
				t.Errorf("field: got %q, want %q (%v)", ce.Field, tc.wantField, err)
			}
		})
	}
	if _, err := loadScenario(writeScenario(t, "fans: 10\nrate_per_second: 5\ncapacity_model: {cost: 20ms}\n")); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("an unknown field: got %v, want an error naming it", err)
	}
}

// TestRehearsalWiring starts the deployment of an adaptive scenario with a
// capacity model and checks what the benchmark relies on: the controller
// reads the rehearsal's own seating health, and the timeline sees the rate,
// the inventory and the seating bound.
func TestRehearsalWiring(t *testing.T) {
	sc, err := loadScenario(writeScenario(t, adaptiveScenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := startRehearsal(ctx, sc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	ev, _, ok := st.proxy.Event(sc.Event)
	if !ok || ev.Adaptive == nil {
		t.Fatal("the rehearsal's event has no adaptive controller")
	}
	resp, err := http.Get(ev.Adaptive.HealthURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: got %d, want 200", ev.Adaptive.HealthURL, resp.StatusCode)
	}
	tl := &timeline{st: st, start: time.Now()}
	tl.sample(ctx)
	p := tl.snapshot()[0]
	if p.Rate != sc.RatePerSecond {
		t.Errorf("rate in force at the start: got %v, want %v", p.Rate, sc.RatePerSecond)
	}
	// A generated venue blocks a few seats; every other one is for sale.
	if p.SeatsLeft < 390 || p.SeatsLeft > 400 || p.SeatsHeld != 0 || p.SeatsSold != 0 {
		t.Errorf("inventory at the start: got %d left, %d held, %d sold; want 390-400 of 400 left, none taken", p.SeatsLeft, p.SeatsHeld, p.SeatsSold)
	}
	if p.Holds != (holdCounts{}) {
		t.Errorf("hold answers before any hold: got %+v, want none", p.Holds)
	}
}
