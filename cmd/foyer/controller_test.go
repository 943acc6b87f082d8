package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foyerhq/foyer/proxy"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/seating"
)

// slowHolds is a seating store whose holds take delay longer than the store
// itself: a seating core whose hold path degrades. The seating service
// measures the delay like any hold latency and reports it in its health
// document.
type slowHolds struct {
	seating.Store
	delay atomic.Int64 // nanoseconds
}

func (s *slowHolds) Hold(ctx context.Context, event, stand string, req seating.HoldRequest) (seating.Hold, error) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return seating.Hold{}, ctx.Err()
		}
	}
	return s.Store.Hold(ctx, event, stand, req)
}

// controlSite is a deployment in this process: the real seating service on
// a degradable store, and a proxy whose event follows it adaptively.
type controlSite struct {
	url   string
	p     *proxy.Proxy
	reg   *prometheus.Registry
	holds *slowHolds
	venue *seating.Venue
	logs  *lockedBuffer
}

const (
	ctlEvent      = "final"
	ctlMinRate    = 2.0
	ctlMaxRate    = 25.0
	ctlObjective  = 100 * time.Millisecond
	ctlSlowHold   = 300 * time.Millisecond
	ctlInterval   = 200 * time.Millisecond
	ctlVenueSeats = 1200
)

func startControlSite(t *testing.T) *controlSite {
	t.Helper()
	sg := newTestSigners(t)
	keys, tokens, tickets := sg.keys, sg.tokens, sg.tickets
	venue, err := seating.Generate(seating.GenerateConfig{Seats: ctlVenueSeats, Stands: 2, Tiers: 1, Seed: 1, BlockedPerMille: -1})
	if err != nil {
		t.Fatal(err)
	}
	site := &controlSite{venue: venue, holds: &slowHolds{Store: seating.NewMemory(nil)}, logs: &lockedBuffer{}, reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewTextHandler(site.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The stand cache, which the health document's inventory comes from,
	// refreshes at the controller's pace so sold out is seen quickly.
	cache, err := seating.NewStandCache(seating.CacheConfig{Interval: ctlInterval}, site.holds, seating.NewMemoryShared(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	seat, err := seating.New(seating.Config{Events: []seating.Event{{Name: ctlEvent, Venue: venue}}}, site.holds, cache, tokens, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := seat.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	seatLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go seat.Serve(seatLn)
	t.Cleanup(func() { _ = seat.Shutdown(context.Background()) })

	seatURL := "http://" + seatLn.Addr().String()
	site.p, err = proxy.New(proxy.Config{
		Events: []proxy.Event{{
			Name: ctlEvent, Origin: seatURL, RatePerSecond: 10,
			Adaptive: &proxy.AdaptiveConfig{
				MinRate: ctlMinRate, MaxRate: ctlMaxRate, HealthURL: seatURL + "/seating/v1/health",
				Interval: ctlInterval, HoldLatencyObjective: ctlObjective, Increase: 2,
			},
		}},
	}, proxy.Deps{Store: queue.NewMemory(nil), Tickets: tickets, Tokens: tokens, JWKS: keys.JWKS(), Registerer: site.reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { site.p.Run(ctx); close(done) }()
	go site.p.Serve(pubLn)
	t.Cleanup(func() {
		cancel()
		<-done
		_ = site.p.Shutdown(context.Background())
		if t.Failed() {
			for _, l := range strings.Split(site.logs.String(), "\n") {
				if strings.Contains(l, "adaptive") {
					t.Log(l)
				}
			}
		}
	})
	site.url = "http://" + pubLn.Addr().String()
	return site
}

// target returns the adaptive controller's latest rate, from its metric.
func (s *controlSite) target(t *testing.T) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "foyer_admission_rate_target_per_second" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

var ctlClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 10 * time.Second}

// ctlCall makes one request as a fan's app would and decodes the JSON
// answer; it fails only on transport errors, which the caller reports.
func ctlCall(method, url, body string, headers ...string) (int, map[string]any, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := ctlClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// fan is one fan's journey: join, wait for the turn, then hold a seat and
// let it go, twice, through the proxy, as the seating page would. It
// returns early without error when the line is sold out.
func (s *controlSite) fan() error {
	status, doc, err := ctlCall("POST", s.url+"/_foyer/v1/events/"+ctlEvent+"/join", "")
	if err != nil || status != 200 {
		return fmt.Errorf("join: %d %v %v", status, doc, err)
	}
	ticket, _ := doc["ticket"].(string)
	for doc["state"] != "admitted" {
		if doc["state"] == "sold_out" {
			return nil
		}
		time.Sleep(150 * time.Millisecond)
		status, doc, err = ctlCall("GET", s.url+"/_foyer/v1/events/"+ctlEvent+"/status", "", "Foyer-Ticket", ticket)
		if err != nil || status != 200 {
			return fmt.Errorf("status: %d %v %v", status, doc, err)
		}
	}
	auth := "Bearer " + doc["admission_token"].(string)
	for range 2 {
		stand := s.venue.Stands[mrand.IntN(len(s.venue.Stands))].ID
		body := fmt.Sprintf(`{"stand":%q,"tier":%q,"quantity":1}`, stand, s.venue.Tiers[0].ID)
		status, hold, err := ctlCall("POST", s.url+"/seating/v1/events/"+ctlEvent+"/holds", body, "Authorization", auth)
		if err != nil {
			return fmt.Errorf("hold: %v", err)
		}
		if status != http.StatusCreated {
			continue // a conflict is an answer too
		}
		if status, _, err := ctlCall("DELETE", s.url+"/seating/v1/events/"+ctlEvent+"/holds/"+hold["hold_id"].(string), "", "Authorization", auth); err != nil || status >= 300 {
			return fmt.Errorf("release: %d %v", status, err)
		}
	}
	return nil
}

// runFans keeps n fans going, each starting a new journey when the last
// ends, until stop is called; stop waits for the journeys under way, so no
// hold is left behind. The first error is reported by stop.
func (s *controlSite) runFans(n int) (stop func() error) {
	var (
		quit    atomic.Bool
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range n {
		wg.Go(func() {
			for !quit.Load() {
				if err := s.fan(); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	return func() error {
		quit.Store(true)
		wg.Wait()
		return first
	}
}

// waitFor polls cond every 20ms until it holds or within passes, and
// returns how long it took.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestAdaptiveAdmissionFollowsSeating is the controller's end-to-end test:
// fans go through the proxy to a real seating service whose hold latency
// degrades past its objective for a while; the admission rate must fall
// within 5 s of the degradation and recover after it. Then the event sells
// out: waiting fans must see sold_out within 2 s, and nobody more is let in.
func TestAdaptiveAdmissionFollowsSeating(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 20 seconds")
	}
	site := startControlSite(t)
	stopFans := site.runFans(30)
	stopped := false
	defer func() {
		if !stopped {
			_ = stopFans()
		}
	}()

	// Healthy: the controller raises the rate toward max_rate.
	took := waitFor(t, 10*time.Second, "the rate rises while the seating service is healthy", func() bool { return site.target(t) >= 18 })
	t.Logf("healthy: rate %.1f/s after %v", site.target(t), took.Round(time.Millisecond))

	// Degraded: holds take 300ms, the objective is 100ms.
	before := site.target(t)
	site.holds.delay.Store(int64(ctlSlowHold))
	degradedAt := time.Now()
	fell := waitFor(t, 5*time.Second, "the rate falls after the hold latency degrades", func() bool { return site.target(t) < before })
	t.Logf("degraded: rate fell from %.1f/s to %.1f/s %v after the hold latency passed its objective", before, site.target(t), fell.Round(time.Millisecond))
	// Let the overload last a little so the controller keeps it answered.
	time.Sleep(2*time.Second - time.Since(degradedAt))
	trough := site.target(t)
	if trough >= before/2 {
		t.Errorf("got rate %.1f/s two seconds into the degradation, want below half of %.1f/s", trough, before)
	}

	// Recovered: the seating service's 10 s window forgets the slow holds
	// and the rate climbs again.
	site.holds.delay.Store(0)
	low := trough
	rose := waitFor(t, 20*time.Second, "the rate recovers after the degradation ends", func() bool {
		r := site.target(t)
		low = min(low, r)
		return r >= 15
	})
	t.Logf("recovered: rate back to %.1f/s (low %.1f/s) %v after the hold latency recovered", site.target(t), low, rose.Round(time.Millisecond))
	stopped = true
	if err := stopFans(); err != nil {
		t.Fatalf("a fan's journey failed: %v", err)
	}

	// Fans waiting when the event sells out.
	var last string
	for i := range 150 {
		status, doc, err := ctlCall("POST", site.url+"/_foyer/v1/events/"+ctlEvent+"/join", "")
		if err != nil || status != 200 {
			t.Fatalf("join %d: %d %v %v", i, status, doc, err)
		}
		last, _ = doc["ticket"].(string)
	}
	statusOf := func(ticket string) map[string]any {
		status, doc, err := ctlCall("GET", site.url+"/_foyer/v1/events/"+ctlEvent+"/status", "", "Foyer-Ticket", ticket)
		if err != nil || status != 200 {
			t.Fatalf("status: %d %v %v", status, doc, err)
		}
		return doc
	}
	if st := statusOf(last)["state"]; st != "waiting" {
		t.Fatalf("got the last fan in state %v before the sell-out, want waiting", st)
	}

	// The box office sells every seat left, straight in the seating store.
	sold := sellEverything(t, site)
	took = waitFor(t, 2*time.Second, "waiting fans see sold_out", func() bool { return statusOf(last)["state"] == "sold_out" })
	t.Logf("sold out: the box office sold the last %d seats; a waiting fan saw sold_out %v later", sold, took.Round(time.Millisecond))

	_, line, _ := site.p.Event(ctlEvent)
	serving := line.Serving
	admissions := metricSum(t, site.reg, "foyer_admissions_total")
	// Nothing moves for five decisions.
	for end := time.Now().Add(5 * ctlInterval); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, line, _ := site.p.Event(ctlEvent); line.Serving != serving {
			t.Fatalf("got serving counter %d after the sell-out, want it to stay at %d", line.Serving, serving)
		}
	}
	if doc := statusOf(last); doc["state"] != "sold_out" || doc["admission_token"] != nil {
		t.Errorf("got waiting fan's status %v after the sell-out, want sold_out without a token", doc)
	}
	status, doc, err := ctlCall("POST", site.url+"/_foyer/v1/events/"+ctlEvent+"/join", "")
	if err != nil || doc["state"] != "sold_out" || doc["ticket"] != nil {
		t.Errorf("got a new join answered %d %v (%v), want sold_out without a ticket", status, doc, err)
	}
	if got := metricSum(t, site.reg, "foyer_admissions_total"); got != admissions {
		t.Errorf("got %v admissions after the sell-out, want none", got-admissions)
	}
	if got := metricSum(t, site.reg, "foyer_admission_decisions_total"); got == 0 {
		t.Error("got no foyer_admission_decisions_total, want the decisions counted")
	}
	for _, action := range []string{"decrease", "sold_out"} {
		line := firstLine(site.logs.String(), "adaptive admission decision", "action="+action)
		if line == "" {
			t.Errorf("the log has no %s decision line", action)
			continue
		}
		t.Logf("log: %s", line)
	}
}

// firstLine returns the first line of logs holding every part, or "".
func firstLine(logs string, parts ...string) string {
lines:
	for _, l := range strings.Split(logs, "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue lines
			}
		}
		return l
	}
	return ""
}

// sellEverything holds and confirms every free seat of the event in the
// seating store, as a box office would, and returns how many it sold.
func sellEverything(t *testing.T, site *controlSite) int {
	t.Helper()
	ctx := context.Background()
	sold := 0
	for _, st := range site.venue.Stands {
		for q := 8; q > 0; {
			h, err := site.holds.Hold(ctx, ctlEvent, st.ID, seating.HoldRequest{Owner: "box-office", Tier: 0, Quantity: q, TTL: time.Minute})
			if errors.Is(err, seating.ErrNoSeats) {
				q--
				continue
			}
			if err != nil {
				t.Fatalf("box office hold in %s: %v", st.ID, err)
			}
			if _, err := site.holds.Confirm(ctx, ctlEvent, h.ID, "box-office"); err != nil {
				t.Fatalf("box office confirm: %v", err)
			}
			sold += len(h.Seats)
		}
	}
	return sold
}

// metricSum sums every series of a counter or gauge.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
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
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
