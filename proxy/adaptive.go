package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// AdaptiveConfig turns on the adaptive admission controller of an event: the
// rate moves between MinRate and MaxRate, following the seating core's health
// document, the origin latency and errors this proxy observes, and the seats
// still to sell (admission.Controller holds the control law). Zero fields
// mean their documented default, except MaxRate and HealthURL, which are
// required.
//
// One proxy per event decides at a time: the leader of the event's
// "controller" role in the store. The others follow the rate it writes to
// the store, like any other change of the line's control.
type AdaptiveConfig struct {
	// MinRate is the organizer's minimum rate in visitors per second: the
	// controller never cuts below it for health reasons (only the inventory
	// cap and sold out go lower). Default 0.
	MinRate float64
	// MaxRate is the organizer's maximum rate in visitors per second.
	// Required.
	MaxRate float64
	// HealthURL is the seating service's health document, e.g.
	// http://127.0.0.1:8081/seating/v1/health. Required.
	HealthURL string
	// Interval is how often the leader decides. Default 1s; between 100ms
	// and 1m.
	Interval time.Duration
	// HealthTimeout bounds one fetch of the health document; a fetch that
	// fails or times out counts as no seating signal. Default Interval.
	HealthTimeout time.Duration
	// HoldLatencyObjective is the p99 hold latency of the seating core not
	// to pass. Default 250ms.
	HoldLatencyObjective time.Duration
	// OriginLatencyObjective is the p99 latency of the origin, as this
	// proxy sees it forwarding, not to pass. Default 1s; negative ignores
	// origin latency.
	OriginLatencyObjective time.Duration
	// ErrorObjective is the share of failed holds, and of failed forwarded
	// requests (5xx answers, timeouts, refused connections), not to pass.
	// Default 0.01.
	ErrorObjective float64
	// Increase is the additive step per healthy Interval, in visitors per
	// second. Default 2% of MaxRate.
	Increase float64
	// Decrease is the factor, in (0, 1), the rate is multiplied by on a
	// breach. Default 0.5.
	Decrease float64
	// Cooldown is how long after a decrease the rate is not raised. Default
	// 5 intervals; negative means none.
	Cooldown time.Duration
	// InventoryFactor bounds the rate by the seats still to sell: at most
	// InventoryFactor × (seats left + held) ÷ InventoryHorizon. Default 1.5;
	// negative disables the cap.
	InventoryFactor float64
	// InventoryHorizon is about how long an admitted fan takes to hold
	// seats. Default 1m.
	InventoryHorizon time.Duration
	// SoldOutAfter is how long the seating core must report no seat left
	// and none held before the line is declared sold out. Default 0: at
	// the first such report.
	SoldOutAfter time.Duration
}

// applyAdaptiveDefaults fills the defaults of e.Adaptive on a copy, so the
// caller's configuration is not changed, and starts the line at MinRate when
// e has no rate of its own.
func applyAdaptiveDefaults(e *Event) {
	if e.Adaptive == nil {
		return
	}
	a := *e.Adaptive
	if a.Interval == 0 {
		a.Interval = admission.DefaultInterval
	}
	if a.HealthTimeout == 0 {
		a.HealthTimeout = a.Interval
	}
	if a.HoldLatencyObjective == 0 {
		a.HoldLatencyObjective = admission.DefaultLatencyObjective
	}
	if a.OriginLatencyObjective == 0 {
		a.OriginLatencyObjective = admission.DefaultOriginLatencyObjective
	}
	if a.ErrorObjective == 0 {
		a.ErrorObjective = admission.DefaultErrorObjective
	}
	if e.RatePerSecond == 0 {
		e.RatePerSecond = a.MinRate
	}
	e.Adaptive = &a
}

// validateAdaptive reports the first problem of e.Adaptive (after
// applyAdaptiveDefaults); f is the event's field path, e.g. "events[0]".
func validateAdaptive(f string, e Event) error {
	a := e.Adaptive
	if a == nil {
		return nil
	}
	f += ".adaptive"
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: f + "." + field, Err: fmt.Errorf(format, args...)}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(a.MaxRate) || a.MaxRate <= 0 || a.MaxRate > maxRate:
		return fe("max_rate", "is required: more than 0 and at most %g, got %v", float64(maxRate), a.MaxRate)
	case !finite(a.MinRate) || a.MinRate < 0 || a.MinRate > a.MaxRate:
		return fe("min_rate", "must be between 0 and max_rate (%v), got %v", a.MaxRate, a.MinRate)
	case e.RatePerSecond < a.MinRate || e.RatePerSecond > a.MaxRate:
		return &FieldError{Field: f[:len(f)-len(".adaptive")] + ".rate_per_second",
			Err: fmt.Errorf("the starting rate must be between adaptive.min_rate (%v) and adaptive.max_rate (%v), got %v", a.MinRate, a.MaxRate, e.RatePerSecond)}
	case a.Interval < 100*time.Millisecond || a.Interval > time.Minute:
		return fe("interval", "must be between 100ms and 1m, got %v", a.Interval)
	case a.HealthTimeout <= 0 || a.HealthTimeout > time.Minute:
		return fe("health_timeout", "must be between 1ns and 1m, got %v", a.HealthTimeout)
	case a.HoldLatencyObjective <= 0:
		return fe("hold_latency_objective", "must be more than 0, got %v", a.HoldLatencyObjective)
	case !finite(a.ErrorObjective) || a.ErrorObjective <= 0 || a.ErrorObjective > 1:
		return fe("error_objective", "must be more than 0 and at most 1, got %v", a.ErrorObjective)
	case !finite(a.Increase) || a.Increase < 0 || a.Increase > a.MaxRate:
		return fe("increase", "must be between 0 and max_rate (%v), got %v", a.MaxRate, a.Increase)
	case !finite(a.Decrease) || a.Decrease < 0 || a.Decrease >= 1:
		return fe("decrease", "must be a factor in (0, 1), got %v", a.Decrease)
	case !finite(a.InventoryFactor):
		return fe("inventory_factor", "must be a finite number, got %v", a.InventoryFactor)
	case a.InventoryHorizon < 0:
		return fe("inventory_horizon", "must not be negative, got %v", a.InventoryHorizon)
	case a.SoldOutAfter < 0:
		return fe("sold_out_after", "must not be negative, got %v", a.SoldOutAfter)
	}
	if err := checkHealthURL(a.HealthURL); err != nil {
		return fe("health_url", "%v", err)
	}
	// The controller checks the whole again; anything it still rejects is a
	// gap in the checks above, reported against the section.
	if err := a.controllerConfig(e.RatePerSecond).Validate(); err != nil {
		return &FieldError{Field: f, Err: err}
	}
	return nil
}

func checkHealthURL(s string) error {
	_, err := checkHTTPURL(s)
	return err
}

// controllerConfig maps a onto the controller's configuration, starting at
// rate.
func (a *AdaptiveConfig) controllerConfig(rate float64) admission.ControllerConfig {
	return admission.ControllerConfig{
		MinRate: a.MinRate, MaxRate: a.MaxRate, InitialRate: rate,
		LatencyObjective:       a.HoldLatencyObjective,
		OriginLatencyObjective: a.OriginLatencyObjective,
		ErrorObjective:         a.ErrorObjective,
		Increase:               a.Increase,
		Decrease:               a.Decrease,
		Interval:               a.Interval,
		Cooldown:               a.Cooldown,
		InventoryFactor:        a.InventoryFactor,
		InventoryHorizon:       a.InventoryHorizon,
		SoldOutAfter:           a.SoldOutAfter,
	}
}

// ControllerStatus is an event's adaptive controller as the console shows it.
type ControllerStatus struct {
	// Enabled is always true: events without a controller have no status.
	Enabled bool `json:"enabled"`
	// Leader says this proxy decides for the event; the others follow.
	Leader bool `json:"leader"`
	// MinRate and MaxRate are the organizer's bounds; Rate and SoldOut are
	// the line's control in force, as this proxy last saw it.
	MinRate float64 `json:"min_rate"`
	MaxRate float64 `json:"max_rate"`
	Rate    float64 `json:"rate"`
	SoldOut bool    `json:"sold_out"`
	// SeatsLeft and SeatsHeld are the inventory of the latest health
	// document this proxy read, −1 while unknown.
	SeatsLeft int64 `json:"seats_left"`
	SeatsHeld int64 `json:"seats_held"`
	// Decisions are the latest decisions this proxy took, most recent
	// first; repeats of one hold are kept as one, at its latest time.
	Decisions []DecisionRecord `json:"decisions"`
}

// DecisionRecord is one decision of the controller, or one override by an
// operator (Action "override"), and what it was based on.
type DecisionRecord struct {
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	Reason   string    `json:"reason"`
	PrevRate float64   `json:"prev_rate"`
	Rate     float64   `json:"rate"`
	// The signal decided on; latencies and error rates are 0 when nothing
	// was observed (and the seating ones when its health was unavailable:
	// the Reason says so), seat counts −1 when unknown.
	SeatingP99Ms     float64 `json:"seating_p99_ms"`
	SeatingErrorRate float64 `json:"seating_error_rate"`
	OriginP99Ms      float64 `json:"origin_p99_ms"`
	OriginErrorRate  float64 `json:"origin_error_rate"`
	SeatsLeft        int64   `json:"seats_left"`
	SeatsHeld        int64   `json:"seats_held"`
}

// OriginStatus is the origin of an event as this proxy saw it forwarding
// over its latest measuring window (the controller's interval, or a second
// for events without one).
type OriginStatus struct {
	P50Ms             float64 `json:"p50_ms"`
	P99Ms             float64 `json:"p99_ms"`
	ErrorRate         float64 `json:"error_rate"`
	RequestsPerSecond float64 `json:"requests_per_second"`
}

// controllerStatus returns the adaptive controller's status, or nil when ev
// has none.
func (ev *event) controllerStatus() *ControllerStatus {
	cl := ev.controlLoop()
	if cl == nil {
		return nil
	}
	min, max := cl.ctrl.Bounds()
	c := ev.line().Control
	cl.mu.Lock()
	defer cl.mu.Unlock()
	st := &ControllerStatus{
		Enabled: true, Leader: cl.leader, MinRate: min, MaxRate: max,
		Rate: c.RatePerSecond, SoldOut: c.SoldOut,
		SeatsLeft: cl.seatsLeft, SeatsHeld: cl.seatsHeld,
		Decisions: make([]DecisionRecord, 0, cl.logLen),
	}
	for i := range cl.logLen {
		st.Decisions = append(st.Decisions, cl.log[(cl.logNext-1-i+decisionLogSize)%decisionLogSize])
	}
	return st
}

// originStatus returns the origin latency and errors of ev's latest
// measuring window.
func (ev *event) originStatus() OriginStatus {
	return ev.ad.meter.status()
}

// eventAdaptive is the adaptive part of an event: the origin meter, written
// on every forward, and the control loop, made on first use. The zero value
// is ready.
type eventAdaptive struct {
	meter originMeter
	once  sync.Once
	loop  *controlLoop // nil without AdaptiveConfig
}

// controlLoop returns ev's control loop, or nil when ev has no adaptive
// configuration.
func (ev *event) controlLoop() *controlLoop {
	ev.ad.once.Do(func() {
		if ev.cfg.Adaptive != nil {
			ev.ad.loop = newControlLoop(*ev.cfg.Adaptive, ev.cfg.RatePerSecond)
		}
	})
	return ev.ad.loop
}

// decisionLogSize is how many decisions a control loop keeps for the
// console.
const decisionLogSize = 50

// controllerRole is the store's leader role of the adaptive controller.
const controllerRole = "controller"

// maxHealthBody bounds the health document read; admission refuses more.
const maxHealthBody = 1 << 20

// controlLoop is the adaptive controller of one event and what it last saw.
// Its fields are written by the event's loop goroutine (runEvent) and read
// by the console and metrics.
type controlLoop struct {
	cfg    AdaptiveConfig
	ctrl   *admission.Controller
	client *http.Client

	// mu guards every field below. It is never held while calling ctrl,
	// which has its own lock.
	mu sync.Mutex
	// leader says this proxy led at its latest tick.
	leader bool
	// seen is the line's control as this leader last read or wrote it; a
	// difference at the next tick is an operator's change. synced says
	// seen is current: it is set when a leader first reads the line, and
	// cleared when the lead is lost.
	seen   queue.Control
	synced bool
	// healthOK says the latest health fetch worked (to log changes once).
	healthOK bool
	// last is the latest decision, valid when decided is set, for metrics.
	last    admission.Decision
	decided bool
	// seatsLeft and seatsHeld are the latest known inventory, −1 until known.
	seatsLeft, seatsHeld int64
	// log is a ring of the latest decisions: logLen entries ending before
	// logNext.
	log             [decisionLogSize]DecisionRecord
	logNext, logLen int
}

func newControlLoop(a AdaptiveConfig, rate float64) *controlLoop {
	ctrl, err := admission.NewController(a.controllerConfig(rate))
	if err != nil {
		// Config.Validate ran the same check; a proxy built from a
		// configuration it rejects cannot exist.
		return nil
	}
	return &controlLoop{
		cfg: a, ctrl: ctrl, healthOK: true, seatsLeft: -1, seatsHeld: -1,
		client: &http.Client{Timeout: a.HealthTimeout},
	}
}

// runAdaptive runs, until ctx ends, one loop per event that closes the
// event's origin measuring window every interval and, for events with an
// adaptive configuration, takes the controller's decision when this proxy
// leads.
func (p *Proxy) runAdaptive(ctx context.Context) {
	holder := holderID()
	var wg sync.WaitGroup
	for _, ev := range p.events {
		wg.Go(func() { p.runEvent(ctx, ev, holder) })
	}
	wg.Wait()
}

// holderID names this proxy in leader elections: unique per process start.
func holderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "proxy-" + hex.EncodeToString(b[:])
}

// originWindow is the measuring window of events without a controller.
const originWindow = time.Second

func (p *Proxy) runEvent(ctx context.Context, ev *event, holder string) {
	cl := ev.controlLoop()
	every := originWindow
	if cl != nil {
		every = cl.cfg.Interval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		window := ev.ad.meter.roll(time.Now())
		if cl != nil {
			p.tick(ctx, ev, cl, holder, window)
		}
	}
}

// tick is one step of the control loop: lead or step aside, take in the
// operators' changes, decide, write the decision to the store and record it.
func (p *Proxy) tick(ctx context.Context, ev *event, cl *controlLoop, holder string, origin originWindowStats) {
	name := ev.cfg.Name
	// Each store call has its own deadline: the health fetch between them
	// may take up to its own timeout.
	sctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
	lead, err := p.store.Lead(sctx, name, controllerRole, holder, 3*cl.cfg.Interval)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		p.m.storeErrors.WithLabelValues("lead").Inc()
		lead = false
	}
	cl.mu.Lock()
	was, synced := cl.leader, cl.synced
	cl.leader = lead
	cl.synced = cl.synced && lead
	cl.mu.Unlock()
	if lead != was {
		p.log.Info("adaptive admission: leadership changed", "event", name, "leader", lead, "holder", holder)
	}
	if !lead {
		return
	}
	// The health document first, so that the control read below is as
	// fresh as can be when the decision is written.
	s := p.seatingSignal(ctx, ev, cl)
	// A fresh read of the line: an operator's change made on another proxy
	// is seen at once rather than at the next refresh.
	sctx, cancel = context.WithTimeout(ctx, p.cfg.StoreTimeout)
	st, err := p.store.Advance(sctx, name, ev.seed())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.m.storeErrors.WithLabelValues("advance").Inc()
		}
		return
	}
	ev.observe(st)
	cur := st.Control
	p.adopt(ev, cl, cur, !synced)
	if cur.Paused || cur.SoldOut {
		// An operator holds the line, or it is sold out: nothing to decide
		// until they open it again.
		return
	}
	s.At = time.Now()
	s.OriginLatencyP99 = origin.quantile(0.99)
	s.OriginErrorRate = origin.errorRate()
	d := cl.ctrl.Decide(s)
	if !sameRate(d.Rate, cur.RatePerSecond) || d.SoldOut != cur.SoldOut {
		next := cur // keeps Paused, MaxActive, SessionTTL, ClaimWindow
		next.RatePerSecond, next.SoldOut = d.Rate, d.SoldOut
		sctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
		// Written only over the control just read: an operator's change
		// made meanwhile wins, and is taken in at the next tick.
		st, err := p.store.SwapControl(sctx, name, cur, next, ev.seed())
		cancel()
		switch {
		case errors.Is(err, queue.ErrControlChanged):
			p.log.Info("adaptive admission: an operator changed the control meanwhile; decision dropped", "event", name, "rate", d.Rate)
			return
		case err != nil:
			// The controller's rate and the store's now differ; the next
			// decision writes again.
			p.m.storeErrors.WithLabelValues("set_control").Inc()
			p.log.Warn("adaptive admission: the decision was not saved", "event", name, "rate", d.Rate, "err", err)
		default:
			ev.observe(st)
			cl.mu.Lock()
			cl.seen = st.Control
			cl.mu.Unlock()
		}
	}
	p.record(ev, cl, d)
}

// sameRate reports whether two rates are equal up to a store's round trip
// through text.
func sameRate(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// adopt takes in the line's control cur, read at this tick. A new leader
// starts from it; a leader that sees it differ from what it last read or
// wrote takes it as an operator's override: a new rate is the controller's
// new starting point, and a line opened again after sold out reopens the
// controller. An operator's pause or sold out is kept as it is (tick decides
// nothing while it lasts).
func (p *Proxy) adopt(ev *event, cl *controlLoop, cur queue.Control, newLeader bool) {
	cl.mu.Lock()
	prev := cl.seen
	cl.seen, cl.synced = cur, true
	cl.mu.Unlock()
	reopened := (newLeader || prev.SoldOut) && !cur.SoldOut && cl.ctrl.SoldOut()
	if reopened {
		cl.ctrl.Reopen()
	}
	rateSet := (newLeader || !sameRate(prev.RatePerSecond, cur.RatePerSecond)) && !cur.SoldOut
	before := cl.ctrl.Rate()
	if rateSet {
		min, max := cl.ctrl.Bounds()
		// Reset fails only while sold out, which reopened has cleared.
		_ = cl.ctrl.Reset(math.Min(math.Max(cur.RatePerSecond, min), max))
	}
	if newLeader || !(reopened || rateSet) {
		return
	}
	reason := "override: rate set by an operator"
	if reopened {
		reason = "override: reopened by an operator"
	}
	p.record(ev, cl, admission.Decision{
		At: time.Now(), Previous: before, Rate: cl.ctrl.Rate(), Action: "override", Reason: reason,
		Signal: admission.Signal{Stale: true},
	})
}

// seatingSignal fetches and parses the seating health document; any failure
// gives a Stale signal, which the controller holds on.
func (p *Proxy) seatingSignal(ctx context.Context, ev *event, cl *controlLoop) admission.Signal {
	s, err := fetchHealth(ctx, cl, ev.cfg.Name)
	cl.mu.Lock()
	changed := cl.healthOK != (err == nil)
	cl.healthOK = err == nil
	if err == nil && s.InventoryKnown {
		cl.seatsLeft, cl.seatsHeld = int64(s.SeatsLeft), int64(s.SeatsHeld)
	}
	cl.mu.Unlock()
	if err != nil {
		p.m.ad.healthErrors.WithLabelValues(ev.cfg.Name).Inc()
		if changed {
			p.log.Warn("adaptive admission: seating health unavailable; holding the rate", "event", ev.cfg.Name, "url", cl.cfg.HealthURL, "err", err)
		}
		return admission.Signal{Stale: true}
	}
	if changed {
		p.log.Info("adaptive admission: seating health available again", "event", ev.cfg.Name)
	}
	return s
}

func fetchHealth(ctx context.Context, cl *controlLoop, event string) (admission.Signal, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.cfg.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.cfg.HealthURL, nil)
	if err != nil {
		return admission.Signal{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cl.client.Do(req)
	if err != nil {
		return admission.Signal{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return admission.Signal{}, fmt.Errorf("proxy: seating health answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	if err != nil {
		return admission.Signal{}, err
	}
	return admission.ParseSeatingHealth(body, event)
}

// record keeps d for the console, counts it and logs it. A decision that
// changes nothing and repeats the previous one is logged at debug level
// only, so a steady line does not fill the log.
func (p *Proxy) record(ev *event, cl *controlLoop, d admission.Decision) {
	s := d.Signal
	r := DecisionRecord{
		At: d.At, Action: string(d.Action), Reason: d.Reason, PrevRate: d.Previous, Rate: d.Rate,
		OriginP99Ms: msOf(s.OriginLatencyP99), OriginErrorRate: s.OriginErrorRate,
		SeatsLeft: -1, SeatsHeld: -1,
	}
	if !s.Stale {
		r.SeatingP99Ms, r.SeatingErrorRate = msOf(s.HoldLatencyP99), s.HoldErrorRate
		if s.InventoryKnown {
			r.SeatsLeft, r.SeatsHeld = int64(s.SeatsLeft), int64(s.SeatsHeld)
		}
	}
	cl.mu.Lock()
	repeat := false
	if cl.logLen > 0 {
		prev := &cl.log[(cl.logNext-1+decisionLogSize)%decisionLogSize]
		repeat = prev.Action == r.Action && prev.Reason == r.Reason && prev.Rate == r.Rate && r.PrevRate == r.Rate
		if repeat {
			*prev = r
		}
	}
	if !repeat {
		cl.log[cl.logNext] = r
		cl.logNext = (cl.logNext + 1) % decisionLogSize
		cl.logLen = min(cl.logLen+1, decisionLogSize)
	}
	if d.Action != "override" {
		cl.last, cl.decided = d, true
	}
	cl.mu.Unlock()

	p.m.ad.decisions.WithLabelValues(ev.cfg.Name, string(d.Action)).Inc()
	level := slog.LevelInfo
	if repeat {
		level = slog.LevelDebug
	}
	p.log.Log(context.Background(), level, "adaptive admission decision",
		"event", ev.cfg.Name, "action", string(d.Action), "reason", d.Reason,
		"prev_rate", d.Previous, "rate", d.Rate, "sold_out", d.SoldOut,
		"hold_p99_ms", r.SeatingP99Ms, "hold_p99_objective_ms", msOf(cl.cfg.HoldLatencyObjective),
		"hold_error_rate", r.SeatingErrorRate,
		"origin_p99_ms", r.OriginP99Ms, "origin_p99_objective_ms", msOf(cl.cfg.OriginLatencyObjective),
		"origin_error_rate", r.OriginErrorRate, "error_objective", cl.cfg.ErrorObjective,
		"seating_stale", s.Stale, "seats_left", r.SeatsLeft, "seats_held", r.SeatsHeld)
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// originBounds are the upper bounds of the origin latency buckets, fine
// around the latency objectives a controller uses (hundreds of ms).
var originBounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 75 * time.Millisecond, 100 * time.Millisecond,
	150 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 300 * time.Millisecond,
	400 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second,
	1500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second,
}

// numOriginBuckets counts the buckets, the last one (+Inf) included.
const numOriginBuckets = len(originBounds) + 1

// originCounts are cumulative counts of forwarded requests since start.
type originCounts struct {
	buckets [numOriginBuckets]uint64 // per bucket, not cumulative over bounds
	errors  uint64
	sum     int64 // nanoseconds
}

// originWindowStats are the forwarded requests of one measuring window.
type originWindowStats struct {
	originCounts
	elapsed time.Duration
}

// originMeter measures the forwarded requests of one event without locks or
// allocation on the forward path: atomic counters per latency bucket. The
// event's loop closes a window every interval by subtracting the previous
// snapshot. The zero value is ready; it is safe for concurrent use.
type originMeter struct {
	buckets [numOriginBuckets]atomic.Uint64
	errors  atomic.Uint64
	sum     atomic.Int64

	// mu guards the fields below, written once per window.
	mu     sync.Mutex
	prev   originCounts
	prevAt time.Time
	last   OriginStatus
}

// observe counts one forwarded request that took d; failed is a 5xx answer
// or no answer at all.
func (m *originMeter) observe(d time.Duration, failed bool) {
	i := 0
	for i < len(originBounds) && d > originBounds[i] {
		i++
	}
	m.buckets[i].Add(1)
	m.sum.Add(int64(d))
	if failed {
		m.errors.Add(1)
	}
}

// snapshot reads the cumulative counts. Requests counted while it reads may
// be in some fields and not others; the next window has them.
func (m *originMeter) snapshot() originCounts {
	var c originCounts
	for i := range m.buckets {
		c.buckets[i] = m.buckets[i].Load()
	}
	c.errors = m.errors.Load()
	c.sum = m.sum.Load()
	return c
}

// roll closes the window ending at now and returns it.
func (m *originMeter) roll(now time.Time) originWindowStats {
	cur := m.snapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	w := originWindowStats{elapsed: now.Sub(m.prevAt)}
	if m.prevAt.IsZero() {
		w.elapsed = 0
	}
	for i := range cur.buckets {
		w.buckets[i] = cur.buckets[i] - m.prev.buckets[i]
	}
	w.errors = cur.errors - m.prev.errors
	w.sum = cur.sum - m.prev.sum
	m.prev, m.prevAt = cur, now
	m.last = OriginStatus{
		P50Ms: msOf(w.quantile(0.5)), P99Ms: msOf(w.quantile(0.99)), ErrorRate: w.errorRate(),
	}
	if w.elapsed > 0 {
		m.last.RequestsPerSecond = float64(w.count()) / w.elapsed.Seconds()
	}
	return w
}

// status returns the latest window's figures.
func (m *originMeter) status() OriginStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (c originCounts) count() uint64 {
	var n uint64
	for _, b := range c.buckets {
		n += b
	}
	return n
}

// errorRate returns the share of failed requests, 0 when there were none.
func (c originCounts) errorRate() float64 {
	n := c.count()
	if n == 0 {
		return 0
	}
	return math.Min(1, float64(c.errors)/float64(n))
}

// quantile estimates the q-quantile of the latencies, interpolating within
// a bucket as Prometheus's histogram_quantile does; 0 when there were none.
// In the last bucket (above 30s) it answers the largest bound.
func (c originCounts) quantile(q float64) time.Duration {
	n := c.count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var cum uint64
	for i, b := range c.buckets {
		if b == 0 || float64(cum+b) < rank {
			cum += b
			continue
		}
		if i == len(originBounds) {
			return originBounds[len(originBounds)-1]
		}
		var lo time.Duration
		if i > 0 {
			lo = originBounds[i-1]
		}
		hi := originBounds[i]
		return lo + time.Duration(float64(hi-lo)*(rank-float64(cum))/float64(b))
	}
	return originBounds[len(originBounds)-1]
}
