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
	sseRefused  prometheus.Counter
	duration    *prometheus.HistogramVec
	byRoute     [numRoutes]prometheus.Observer

	waiting, serving, tail, rate, paused, epoch *prometheus.Desc
	storeUp, draining                           *prometheus.Desc
}

// eventMetrics are one event's counters, curried at start.
type eventMetrics struct {
	joinsNew, joinsExisting, joinErrors prometheus.Counter
	admissions, forwarded               prometheus.Counter
	sseEvents                           prometheus.Counter
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
			Name: "foyer_origin_errors_total", Help: "Forwarded requests the origin did not answer, by kind.",
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
		storeUp:  prometheus.NewDesc("foyer_store_up", "1 when the last refresh reached the store.", nil, nil),
		draining: prometheus.NewDesc("foyer_draining", "1 while the process is shutting down.", nil, nil),
	}
	for r, l := range routeLabels {
		m.byRoute[r] = m.duration.WithLabelValues(l)
	}
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
		originErrors:  func(kind string) prometheus.Counter { return m.originErrs.WithLabelValues(name, kind) },
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.joins, m.admissions, m.forwarded, m.originErrs, m.rejections, m.storeErrors, m.lostTickets, m.panics, m.sseStreams, m.sseEvents, m.sseRefused, m.duration, m} {
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
	for _, d := range []*prometheus.Desc{m.waiting, m.serving, m.tail, m.rate, m.paused, m.epoch, m.storeUp, m.draining} {
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
	}
	ch <- prometheus.MustNewConstMetric(m.storeUp, prometheus.GaugeValue, b2f(m.p.StoreUp()))
	ch <- prometheus.MustNewConstMetric(m.draining, prometheus.GaugeValue, b2f(m.p.draining.Load()))
}
