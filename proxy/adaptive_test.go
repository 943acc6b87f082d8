package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// healthServer is a real HTTP server serving a seating health document that
// the test changes as it goes.
type healthServer struct {
	*httptest.Server
	mu  sync.Mutex // guards doc and fail
	doc healthDoc
	// fail makes the server answer 503.
	fail bool
}

type healthDoc struct {
	p99Ms            float64
	errorRate        float64
	seatsLeft, seats int
}

func startHealth(t *testing.T) *healthServer {
	t.Helper()
	h := &healthServer{doc: healthDoc{p99Ms: 20, seatsLeft: 1e6}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		d, fail := h.doc, h.fail
		h.mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "ok", "window_seconds": 10, "holds_per_second": 5, "error_rate": d.errorRate,
			"hold_latency_ms": map[string]float64{"p50": d.p99Ms / 2, "p95": d.p99Ms, "p99": d.p99Ms},
			"events":          []map[string]any{{"event": "show", "seats_left": d.seatsLeft, "seats_held": d.seats, "seats_sold": 0}},
		})
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *healthServer) set(f func(d *healthDoc)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.doc)
}

// adaptiveProxy is a proxy that runs its loops (no listener) on store.
type adaptiveProxy struct {
	p    *Proxy
	reg  *prometheus.Registry
	stop func()
}

func startAdaptiveProxy(t *testing.T, store queue.Store, a AdaptiveConfig, rate float64) *adaptiveProxy {
	t.Helper()
	key, _ := admission.GenerateKey(rand.Reader)
	ks, _ := admission.NewKeySet(key)
	tokens, _ := admission.NewTokens(admission.Config{}, ks)
	tickets, _ := queue.NewTicketSigner(queue.TicketKey{ID: "t1", Secret: bytes.Repeat([]byte("s"), 32)})
	reg := prometheus.NewRegistry()
	p, err := New(Config{
		RefreshInterval: 20 * time.Millisecond,
		Events:          []Event{{Name: "show", Origin: "http://127.0.0.1:1", RatePerSecond: rate, Adaptive: &a}},
	}, Deps{Store: store, Tickets: tickets, Tokens: tokens, JWKS: ks.JWKS(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &adaptiveProxy{p: p, reg: reg, stop: stop}
}

func (a *adaptiveProxy) status() *ControllerStatus { return a.p.byName["show"].controllerStatus() }

// control returns the line's control as the store has it now.
func control(t *testing.T, store queue.Store) queue.Control {
	t.Helper()
	st, err := store.Advance(context.Background(), "show", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	return st.Control
}

func setControl(t *testing.T, store queue.Store, f func(c *queue.Control)) {
	t.Helper()
	c := control(t, store)
	f(&c)
	if _, err := store.SetControl(context.Background(), "show", c, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hasDecision reports whether st records a decision with the action and a
// reason starting with prefix.
func hasDecision(st *ControllerStatus, action, prefix string) bool {
	for _, d := range st.Decisions {
		if d.Action == action && strings.HasPrefix(d.Reason, prefix) {
			return true
		}
	}
	return false
}

func fastAdaptive(healthURL string) AdaptiveConfig {
	return AdaptiveConfig{
		MinRate: 10, MaxRate: 1000, Increase: 50, HealthURL: healthURL,
		Interval: 100 * time.Millisecond, HoldLatencyObjective: 100 * time.Millisecond,
		Cooldown: -1, InventoryFactor: -1,
	}
}

func TestAdaptiveConfigValidate(t *testing.T) {
	base := func() Event {
		return Event{Name: "show", Origin: "http://o", RatePerSecond: 50,
			Adaptive: &AdaptiveConfig{MinRate: 10, MaxRate: 100, HealthURL: "http://s/seating/v1/health"}}
	}
	tests := []struct {
		name  string
		edit  func(e *Event)
		field string
	}{
		{"valid", func(e *Event) {}, ""},
		{"no max rate", func(e *Event) { e.Adaptive.MaxRate = 0 }, "events[0].adaptive.max_rate"},
		{"min above max", func(e *Event) { e.Adaptive.MinRate = 200 }, "events[0].adaptive.min_rate"},
		{"start above max", func(e *Event) { e.RatePerSecond = 150 }, "events[0].rate_per_second"},
		{"no health url", func(e *Event) { e.Adaptive.HealthURL = "" }, "events[0].adaptive.health_url"},
		{"health url scheme", func(e *Event) { e.Adaptive.HealthURL = "ftp://s/h" }, "events[0].adaptive.health_url"},
		{"interval too short", func(e *Event) { e.Adaptive.Interval = time.Millisecond }, "events[0].adaptive.interval"},
		{"error objective", func(e *Event) { e.Adaptive.ErrorObjective = 2 }, "events[0].adaptive.error_objective"},
		{"decrease", func(e *Event) { e.Adaptive.Decrease = 1 }, "events[0].adaptive.decrease"},
		{"increase", func(e *Event) { e.Adaptive.Increase = 1000 }, "events[0].adaptive.increase"},
		{"NaN factor", func(e *Event) { e.Adaptive.InventoryFactor = math.NaN() }, "events[0].adaptive.inventory_factor"},
		{"negative horizon", func(e *Event) { e.Adaptive.InventoryHorizon = -time.Second }, "events[0].adaptive.inventory_horizon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base()
			tt.edit(&e)
			err := Config{Events: []Event{e}}.Defaults().Validate()
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.field == "":
			case !errors.As(err, &fe):
				t.Fatalf("got error %v, want a *FieldError for %s", err, tt.field)
			case fe.Field != tt.field:
				t.Errorf("got field %q (%v), want %q", fe.Field, err, tt.field)
			}
		})
	}
}

func TestAdaptiveDefaults(t *testing.T) {
	a := &AdaptiveConfig{MinRate: 7, MaxRate: 100, HealthURL: "http://s/h"}
	c := Config{Events: []Event{{Name: "show", Origin: "http://o", Adaptive: a}}}.Defaults()
	e := c.Events[0]
	if e.RatePerSecond != 7 {
		t.Errorf("got starting rate %v, want min_rate 7", e.RatePerSecond)
	}
	if e.Adaptive.Interval != time.Second || e.Adaptive.HealthTimeout != time.Second {
		t.Errorf("got interval %v and health timeout %v, want 1s and 1s", e.Adaptive.Interval, e.Adaptive.HealthTimeout)
	}
	if e.Adaptive.HoldLatencyObjective != admission.DefaultLatencyObjective || e.Adaptive.ErrorObjective != admission.DefaultErrorObjective {
		t.Errorf("got objectives %v and %v, want the admission defaults", e.Adaptive.HoldLatencyObjective, e.Adaptive.ErrorObjective)
	}
	if a.Interval != 0 {
		t.Errorf("Defaults changed the caller's AdaptiveConfig: interval %v", a.Interval)
	}
}

func TestOriginMeter(t *testing.T) {
	var m originMeter
	start := time.Now()
	m.roll(start)
	// 98 fast requests, one at 180ms and one failed at 900ms.
	for range 98 {
		m.observe(3*time.Millisecond, false)
	}
	m.observe(180*time.Millisecond, false)
	m.observe(900*time.Millisecond, true)
	w := m.roll(start.Add(2 * time.Second))
	if got := w.count(); got != 100 {
		t.Fatalf("got %d requests in the window, want 100", got)
	}
	if got := w.errorRate(); got != 0.01 {
		t.Errorf("got error rate %v, want 0.01", got)
	}
	// The 99th of 100 is the 180ms one: in the (150ms, 200ms] bucket.
	if got := w.quantile(0.99); got <= 150*time.Millisecond || got > 200*time.Millisecond {
		t.Errorf("got p99 %v, want within (150ms, 200ms]", got)
	}
	if got := w.quantile(0.5); got <= 2500*time.Microsecond || got > 5*time.Millisecond {
		t.Errorf("got p50 %v, want within (2.5ms, 5ms]", got)
	}
	st := m.status()
	if st.RequestsPerSecond != 50 || st.ErrorRate != 0.01 {
		t.Errorf("got status %+v, want 50 requests/s and error rate 0.01", st)
	}
	// The next window starts empty.
	if w := m.roll(start.Add(3 * time.Second)); w.count() != 0 || w.quantile(0.99) != 0 || w.errorRate() != 0 {
		t.Errorf("got a next window of %d requests, p99 %v, errors %v; want an empty one", w.count(), w.quantile(0.99), w.errorRate())
	}
}

// TestAdaptiveForwardIsMeasured checks that forwarded requests reach the
// origin meter and its histogram, 5xx answers as failures.
func TestAdaptiveForwardIsMeasured(t *testing.T) {
	var fail atomic.Bool // the origin answers 503
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if fail.Load() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			return
		}
		ctx.SetBodyString("ok")
	})
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].Origin = "http://" + origin.addr })
	_, token, _ := h.admitted("show")
	for range 3 {
		if r := h.do("GET", "/seats", "Authorization", "Bearer "+token); r.status != 200 {
			t.Fatalf("got status %d, want 200", r.status)
		}
	}
	fail.Store(true)
	if r := h.do("GET", "/seats", "Authorization", "Bearer "+token); r.status != 503 {
		t.Fatalf("got status %d, want the origin's 503", r.status)
	}
	ev := h.p.byName["show"]
	w := ev.ad.meter.roll(time.Now())
	if w.count() != 4 || w.errors != 1 {
		t.Errorf("got %d requests and %d errors measured, want 4 and 1", w.count(), w.errors)
	}
	if got := h.counter("foyer_origin_errors_total", map[string]string{"event": "show", "kind": "status_5xx"}); got != 1 {
		t.Errorf("got foyer_origin_errors_total{kind=status_5xx} %v, want 1", got)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, mf := range mfs {
		if mf.GetName() == "foyer_origin_request_duration_seconds" {
			count = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if count != 4 {
		t.Errorf("got foyer_origin_request_duration_seconds count %d, want 4", count)
	}
	if ev.controllerStatus() != nil {
		t.Error("got a controller status for an event without adaptive configuration, want nil")
	}
}

// TestAdaptiveLeaderElection runs two proxies on one store: exactly one
// decides; when it stops, the other takes over from the store's rate.
func TestAdaptiveLeaderElection(t *testing.T) {
	health := startHealth(t)
	store := queue.NewMemory(nil)
	a := startAdaptiveProxy(t, store, fastAdaptive(health.URL), 10)
	b := startAdaptiveProxy(t, store, fastAdaptive(health.URL), 10)

	eventually(t, 3*time.Second, "a leader raises the rate", func() bool { return control(t, store).RatePerSecond >= 200 })
	sa, sb := a.status(), b.status()
	if sa.Leader == sb.Leader {
		t.Fatalf("got leader %v and %v, want exactly one", sa.Leader, sb.Leader)
	}
	leader, follower := a, b
	if sb.Leader {
		leader, follower = b, a
	}
	if n := len(follower.status().Decisions); n != 0 {
		t.Errorf("the follower recorded %d decisions, want 0", n)
	}
	if got := gaugeValue(t, leader.reg, "foyer_admission_controller_leader"); got != 1 {
		t.Errorf("got foyer_admission_controller_leader %v on the leader, want 1", got)
	}
	if got := gaugeValue(t, follower.reg, "foyer_admission_controller_leader"); got != 0 {
		t.Errorf("got foyer_admission_controller_leader %v on the follower, want 0", got)
	}

	leader.stop()
	stoppedAt := control(t, store).RatePerSecond
	eventually(t, 3*time.Second, "the follower takes over", func() bool { return follower.status().Leader })
	eventually(t, 3*time.Second, "the new leader raises the rate", func() bool { return control(t, store).RatePerSecond > stoppedAt })
	// It went on from the store's rate, not from its own starting rate.
	for _, d := range follower.status().Decisions {
		if d.Action == "increase" && d.PrevRate < stoppedAt {
			t.Errorf("the new leader increased from %v, below the rate %v it took over", d.PrevRate, stoppedAt)
		}
	}
}

// TestAdaptiveDecisions checks a decrease on a breach, its record, log
// fields and metrics.
func TestAdaptiveDecisions(t *testing.T) {
	health := startHealth(t)
	store := queue.NewMemory(nil)
	ap := startAdaptiveProxy(t, store, fastAdaptive(health.URL), 500)
	eventually(t, 3*time.Second, "a first increase", func() bool { return hasDecision(ap.status(), "increase", "increase") })

	health.set(func(d *healthDoc) { d.p99Ms = 400 })
	eventually(t, 3*time.Second, "a decrease on hold p99", func() bool { return hasDecision(ap.status(), "decrease", "decrease: hold p99") })
	var dec DecisionRecord
	for _, d := range ap.status().Decisions {
		if d.Action == "decrease" {
			dec = d
			break
		}
	}
	if dec.SeatingP99Ms != 400 || dec.Rate >= dec.PrevRate || dec.SeatsLeft != 1e6 {
		t.Errorf("got decrease record %+v, want seating p99 400ms, a lower rate and 1e6 seats left", dec)
	}
	if got := ap.status().SeatsLeft; got != 1e6 {
		t.Errorf("got status seats left %d, want 1000000", got)
	}
	for _, action := range []string{"increase", "decrease"} {
		if got := counterValue(t, ap.reg, "foyer_admission_decisions_total", "action", action); got < 1 {
			t.Errorf("got foyer_admission_decisions_total{action=%q} %v, want at least 1", action, got)
		}
	}
	if got := gaugeValue(t, ap.reg, "foyer_admission_rate_target_per_second"); got <= 0 {
		t.Errorf("got foyer_admission_rate_target_per_second %v, want the decided rate", got)
	}

	// A seating service that cannot answer holds the rate.
	health.mu.Lock()
	health.fail = true
	health.mu.Unlock()
	eventually(t, 3*time.Second, "a hold on a stale signal", func() bool { return hasDecision(ap.status(), "hold", "hold: signal stale") })
	if got := counterValue(t, ap.reg, "foyer_admission_health_errors_total"); got < 1 {
		t.Errorf("got foyer_admission_health_errors_total %v, want at least 1", got)
	}
}

// TestAdaptiveOverrides checks that the controller follows an operator's
// rate, declares sold out, reopens when the operator does, and keeps an
// operator's pause and sold out.
func TestAdaptiveOverrides(t *testing.T) {
	health := startHealth(t)
	store := queue.NewMemory(nil)
	ap := startAdaptiveProxy(t, store, fastAdaptive(health.URL), 10)
	eventually(t, 3*time.Second, "the controller leads", func() bool { return ap.status().Leader })

	t.Run("rate", func(t *testing.T) {
		setControl(t, store, func(c *queue.Control) { c.RatePerSecond = 700 })
		eventually(t, 3*time.Second, "the override is taken in", func() bool {
			return hasDecision(ap.status(), "override", "override: rate set by an operator")
		})
		// The controller goes on from the operator's rate.
		eventually(t, 3*time.Second, "an increase from 700", func() bool { return control(t, store).RatePerSecond > 700 })
	})

	t.Run("paused", func(t *testing.T) {
		setControl(t, store, func(c *queue.Control) { c.Paused = true })
		before := control(t, store).RatePerSecond
		n := counterValue(t, ap.reg, "foyer_admission_decisions_total", "action", "increase")
		time.Sleep(5 * 100 * time.Millisecond) // five intervals in which nothing may change
		if got := control(t, store); got.RatePerSecond != before || !got.Paused {
			t.Errorf("got control %+v while paused, want rate %v and paused", got, before)
		}
		if got := counterValue(t, ap.reg, "foyer_admission_decisions_total", "action", "increase"); got != n {
			t.Errorf("got %v increases while paused, want none", got-n)
		}
		setControl(t, store, func(c *queue.Control) { c.Paused = false })
	})

	t.Run("sold out", func(t *testing.T) {
		health.set(func(d *healthDoc) { d.seatsLeft, d.seats = 0, 0 })
		eventually(t, 3*time.Second, "sold out in the store", func() bool { c := control(t, store); return c.SoldOut && c.RatePerSecond == 0 })
		if st := ap.status(); !st.SoldOut || !hasDecision(st, "sold_out", "sold out") {
			t.Errorf("got status sold out %v, want a sold_out decision", st.SoldOut)
		}
		// Seats come back; an operator opens the line again.
		health.set(func(d *healthDoc) { d.seatsLeft = 100 })
		setControl(t, store, func(c *queue.Control) { c.SoldOut = false })
		eventually(t, 3*time.Second, "the reopen is taken in", func() bool {
			return hasDecision(ap.status(), "override", "override: reopened by an operator")
		})
		eventually(t, 3*time.Second, "admission resumes", func() bool { c := control(t, store); return !c.SoldOut && c.RatePerSecond >= 10 })
	})

	t.Run("operator sold out", func(t *testing.T) {
		setControl(t, store, func(c *queue.Control) { c.SoldOut, c.RatePerSecond = true, 0 })
		time.Sleep(5 * 100 * time.Millisecond)
		if got := control(t, store); !got.SoldOut || got.RatePerSecond != 0 {
			t.Errorf("got control %+v, want the operator's sold out kept", got)
		}
	})
}

// gaugeValue returns the value of the first series of a gauge.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return metricValue(mf.GetMetric()[0])
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// counterValue sums the series of a counter whose label has the value
// (every series when label is "").
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labelValue ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelValue); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labelValue[i] && lp.GetValue() != labelValue[i+1] {
						continue series
					}
				}
			}
			sum += metricValue(m)
		}
	}
	return sum
}
