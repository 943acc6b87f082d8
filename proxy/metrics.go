package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routeName labels the request duration histogram. Labels are fixed at start
// so the hot path only indexes a slice.
type routeName int

const (
	routeForward routeName = iota
	routeGate
	routePage
	routeJoin
	routeStatus
	routeJWKS
	routeStream
	routeNotFound
	routeBadRequest
	numRoutes
)

var routeLabels = [numRoutes]string{
	routeForward: "forward", routeGate: "gate", routePage: "page", routeJoin: "join",
	routeStatus: "status", routeJWKS: "jwks", routeStream: "stream", routeNotFound: "not_found", routeBadRequest: "bad_request",
}

// Kinds of rejected credentials.
const (
	kindAdmission = "admission_token"
	kindTicket    = "ticket"
)

// metrics are the proxy's Prometheus metrics. Counters are created once and
// safe for concurrent use.
type metrics struct {
	p *Proxy

	joins       *prometheus.CounterVec
	admissions  *prometheus.CounterVec
	forwarded   *prometheus.CounterVec
	originErrs  *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	lostTickets prometheus.Counter
	panics      prometheus.Counter
	sseStreams  prometheus.Gauge
	sseEvents   *prometheus.CounterVec
	sessions    *prometheus.CounterVec
	sseRefused  prometheus.Counter
	duration    *prometheus.HistogramVec
	byRoute     [numRoutes]prometheus.Observer

	waiting, serving, tail, rate, paused, epoch *prometheus.Desc
	active, pending, abandon, maxAct, soldOut   *prometheus.Desc
	prequeue, storeUp, draining                 *prometheus.Desc

	ad adaptiveMetrics
}

// eventMetrics are one event's counters, curried at start.
type eventMetrics struct {
	joinsNew, joinsExisting, joinErrors prometheus.Counter
	admissions, forwarded               prometheus.Counter
	sseEvents                           prometheus.Counter
	renewals, sessionsEnded, turnsOver  prometheus.Counter
	originErrors                        func(kind string) prometheus.Counter
}

func newMetrics(p *Proxy) *metrics {
	m := &metrics{
		p: p,
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_joins_total", Help: "Joins of a line by result: new place, existing place returned, or error.",
		}, []string{"event", "result"}),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_admissions_total", Help: "Admission tokens issued to visitors whose turn came.",
		}, []string{"event"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_forwarded_requests_total", Help: "Admitted requests forwarded to the origin and answered by it.",
		}, []string{"event"}),
		originErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_origin_errors_total", Help: "Forwarded requests that failed, by kind: not answered (timeout, saturated, connection, other) or answered with a 5xx status (status_5xx).",
		}, []string{"event", "kind"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_token_rejections_total", Help: "Admission tokens and queue tickets rejected, by kind and reason.",
		}, []string{"kind", "reason"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_store_errors_total", Help: "Failed store calls by operation.",
		}, []string{"op"}),
		lostTickets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foyer_lost_tickets_total", Help: "Tickets whose place the store had lost, rejoined at the tail.",
		}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_session_events_total", Help: "Session events seen by this proxy: renewed (a fresh admission token for an active visitor), ended_by_origin (Foyer-Session: end), turn_over (a turn claimed after it was abandoned or its session ended; the visitor joined again).",
		}, []string{"event", "kind"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foyer_panics_total", Help: "Requests whose handler panicked (a bug; answered 500 and logged).",
		}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foyer_sse_streams", Help: "Server-Sent Events streams open on this process.",
		}),
		sseEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_sse_events_total", Help: "Status documents sent on Server-Sent Events streams (keepalive comments not counted).",
		}, []string{"event"}),
		sseRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foyer_sse_refused_total", Help: "Stream requests refused with 503 because max_streams streams were open or the process was draining.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foyer_request_duration_seconds",
			Help:    "Time to answer a request on the public listener, by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		waiting:  prometheus.NewDesc("foyer_waiting", "Visitors in line whose turn has not come, as this process last saw.", []string{"event"}, nil),
		serving:  prometheus.NewDesc("foyer_serving", "The serving counter: highest sequence number whose turn has come.", []string{"event"}, nil),
		tail:     prometheus.NewDesc("foyer_tail", "Highest sequence number issued.", []string{"event"}, nil),
		rate:     prometheus.NewDesc("foyer_admission_rate", "Configured admission rate, visitors per second.", []string{"event"}, nil),
		paused:   prometheus.NewDesc("foyer_paused", "1 when the event's line is paused.", []string{"event"}, nil),
		epoch:    prometheus.NewDesc("foyer_line_epoch", "Epoch of the line; it changes when the store lost the line.", []string{"event"}, nil),
		active:   prometheus.NewDesc("foyer_active_sessions", "Active sessions: admitted visitors seen within the session duration.", []string{"event"}, nil),
		pending:  prometheus.NewDesc("foyer_pending_turns", "Turns granted under the active-session cap and not yet claimed.", []string{"event"}, nil),
		abandon:  prometheus.NewDesc("foyer_abandoned_turns", "Turns abandoned (not claimed within the claim window) in the line's epoch; their slots were reissued.", []string{"event"}, nil),
		maxAct:   prometheus.NewDesc("foyer_max_active", "The active-session cap (0: none).", []string{"event"}, nil),
		soldOut:  prometheus.NewDesc("foyer_sold_out", "1 when the event is sold out.", []string{"event"}, nil),
		prequeue: prometheus.NewDesc("foyer_prequeue_members", "Visitors in the pre-queue awaiting the draw (members before the start plus late arrivals).", []string{"event"}, nil),
		storeUp:  prometheus.NewDesc("foyer_store_up", "1 when the last refresh reached the store.", nil, nil),
		draining: prometheus.NewDesc("foyer_draining", "1 while the process is shutting down.", nil, nil),
	}
	for r, l := range routeLabels {
		m.byRoute[r] = m.duration.WithLabelValues(l)
	}
	m.ad = newAdaptiveMetrics(p)
	return m
}

func (m *metrics) forEvent(name string) eventMetrics {
	return eventMetrics{
		joinsNew:      m.joins.WithLabelValues(name, "new"),
		joinsExisting: m.joins.WithLabelValues(name, "existing"),
		joinErrors:    m.joins.WithLabelValues(name, "error"),
		admissions:    m.admissions.WithLabelValues(name),
		forwarded:     m.forwarded.WithLabelValues(name),
		sseEvents:     m.sseEvents.WithLabelValues(name),
		renewals:      m.sessions.WithLabelValues(name, "renewed"),
		sessionsEnded: m.sessions.WithLabelValues(name, "ended_by_origin"),
		turnsOver:     m.sessions.WithLabelValues(name, "turn_over"),
		originErrors:  func(kind string) prometheus.Counter { return m.originErrs.WithLabelValues(name, kind) },
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.joins, m.admissions, m.forwarded, m.originErrs, m.rejections, m.storeErrors, m.lostTickets, m.panics, m.sseStreams, m.sseEvents, m.sseRefused, m.sessions, m.duration, m, m.ad.decisions, m.ad.healthErrors, &m.ad} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) observe(r routeName, start time.Time) {
	m.byRoute[r].Observe(time.Since(start).Seconds())
}

func (m *metrics) rejected(kind, reason string) {
	m.rejections.WithLabelValues(kind, reason).Inc()
}

// Describe implements prometheus.Collector for the gauges read from the
// per-process line cache.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.waiting, m.serving, m.tail, m.rate, m.paused, m.epoch, m.storeUp, m.draining,
		m.active, m.pending, m.abandon, m.maxAct, m.soldOut, m.prequeue} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, ev := range m.p.events {
		s := ev.line()
		n := ev.cfg.Name
		ch <- prometheus.MustNewConstMetric(m.waiting, prometheus.GaugeValue, float64(s.Waiting()), n)
		ch <- prometheus.MustNewConstMetric(m.serving, prometheus.GaugeValue, float64(s.Serving), n)
		ch <- prometheus.MustNewConstMetric(m.tail, prometheus.GaugeValue, float64(s.Tail), n)
		ch <- prometheus.MustNewConstMetric(m.rate, prometheus.GaugeValue, s.Control.RatePerSecond, n)
		ch <- prometheus.MustNewConstMetric(m.paused, prometheus.GaugeValue, b2f(s.Control.Paused), n)
		ch <- prometheus.MustNewConstMetric(m.epoch, prometheus.GaugeValue, float64(s.Epoch), n)
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, float64(s.Active), n)
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(s.Pending), n)
		ch <- prometheus.MustNewConstMetric(m.abandon, prometheus.GaugeValue, float64(s.Abandoned), n)
		ch <- prometheus.MustNewConstMetric(m.maxAct, prometheus.GaugeValue, float64(s.Control.MaxActive), n)
		ch <- prometheus.MustNewConstMetric(m.soldOut, prometheus.GaugeValue, b2f(s.Control.SoldOut), n)
		ch <- prometheus.MustNewConstMetric(m.prequeue, prometheus.GaugeValue, float64(s.Members+s.Late), n)
	}
	ch <- prometheus.MustNewConstMetric(m.storeUp, prometheus.GaugeValue, b2f(m.p.StoreUp()))
	ch <- prometheus.MustNewConstMetric(m.draining, prometheus.GaugeValue, b2f(m.p.draining.Load()))
}

// adaptiveMetrics are the metrics of the adaptive admission controller and
// of the origin as the proxy sees it forwarding (adaptive.go). The gauges
// are read from the control loops when collected.
type adaptiveMetrics struct {
	p *Proxy

	decisions    *prometheus.CounterVec
	healthErrors *prometheus.CounterVec

	originDuration, leader, target, observedLatency, observedErrors *prometheus.Desc
	latencyObjective, errorObjective, seatsLeft, seatsHeld          *prometheus.Desc
}

func newAdaptiveMetrics(p *Proxy) adaptiveMetrics {
	ev := []string{"event"}
	sig := []string{"event", "signal"}
	return adaptiveMetrics{
		p: p,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_admission_decisions_total", Help: "Decisions of the adaptive admission controller taken on this proxy, by action: increase, decrease, hold, cap, sold_out, or override (an operator's change taken in).",
		}, []string{"event", "action"}),
		healthErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_admission_health_errors_total", Help: "Fetches of the seating health document that failed (the controller then holds the rate).",
		}, ev),
		originDuration: prometheus.NewDesc("foyer_origin_request_duration_seconds",
			"Time the origin took to answer forwarded requests, failures included.", ev, nil),
		leader: prometheus.NewDesc("foyer_admission_controller_leader",
			"1 when this proxy leads the event's adaptive admission controller.", ev, nil),
		target: prometheus.NewDesc("foyer_admission_rate_target_per_second",
			"Rate set by the latest decision of the adaptive controller, on its leading proxy.", ev, nil),
		observedLatency: prometheus.NewDesc("foyer_admission_observed_latency_seconds",
			"p99 latency the latest decision saw: of seating holds (signal hold) or of the origin as this proxy forwards (signal origin).", sig, nil),
		observedErrors: prometheus.NewDesc("foyer_admission_observed_error_ratio",
			"Error share the latest decision saw: of seating holds (signal hold) or of forwarded requests (signal origin).", sig, nil),
		latencyObjective: prometheus.NewDesc("foyer_admission_latency_objective_seconds",
			"p99 latency objective of the adaptive controller, by signal (hold, origin).", sig, nil),
		errorObjective: prometheus.NewDesc("foyer_admission_error_objective_ratio",
			"Error share objective of the adaptive controller, for holds and forwarded requests.", ev, nil),
		seatsLeft: prometheus.NewDesc("foyer_admission_seats_left",
			"Seats still free, from the latest seating health document the controller read.", ev, nil),
		seatsHeld: prometheus.NewDesc("foyer_admission_seats_held",
			"Seats held and not yet sold, from the latest seating health document the controller read.", ev, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *adaptiveMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.originDuration, m.leader, m.target, m.observedLatency, m.observedErrors, m.latencyObjective, m.errorObjective, m.seatsLeft, m.seatsHeld} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *adaptiveMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, ev := range m.p.events {
		n := ev.cfg.Name
		c := ev.ad.meter.snapshot()
		cum := make(map[float64]uint64, len(originBounds))
		var total uint64
		for i, b := range originBounds {
			total += c.buckets[i]
			cum[b.Seconds()] = total
		}
		total += c.buckets[len(originBounds)]
		ch <- prometheus.MustNewConstHistogram(m.originDuration, total, time.Duration(c.sum).Seconds(), cum, n)

		cl := ev.controlLoop()
		if cl == nil {
			continue
		}
		cl.mu.Lock()
		leader, decided, d := cl.leader, cl.decided, cl.last
		left, held := cl.seatsLeft, cl.seatsHeld
		cl.mu.Unlock()
		b2f := 0.0
		if leader {
			b2f = 1
		}
		gauge(m.leader, b2f, n)
		gauge(m.latencyObjective, cl.cfg.HoldLatencyObjective.Seconds(), n, "hold")
		if cl.cfg.OriginLatencyObjective > 0 {
			gauge(m.latencyObjective, cl.cfg.OriginLatencyObjective.Seconds(), n, "origin")
		}
		gauge(m.errorObjective, cl.cfg.ErrorObjective, n)
		if left >= 0 {
			gauge(m.seatsLeft, float64(left), n)
			gauge(m.seatsHeld, float64(held), n)
		}
		if !leader || !decided {
			continue
		}
		gauge(m.target, d.Rate, n)
		gauge(m.observedLatency, d.Signal.OriginLatencyP99.Seconds(), n, "origin")
		gauge(m.observedErrors, d.Signal.OriginErrorRate, n, "origin")
		if !d.Signal.Stale {
			gauge(m.observedLatency, d.Signal.HoldLatencyP99.Seconds(), n, "hold")
			gauge(m.observedErrors, d.Signal.HoldErrorRate, n, "hold")
		}
	}
}
