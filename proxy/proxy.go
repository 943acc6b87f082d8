// Package proxy is Foyer's edge: a fasthttp server that maps each request to
// an event, lets visitors holding a valid admission token through to the
// event's origin, and puts everyone else in the event's line, answering with
// the queue page or the JSON status document.
//
// The hot paths cost no store round trip: an admitted request costs a lookup
// in the verified-token cache and the forward; a status poll costs a ticket
// MAC check and a read of the per-process cache of the line's counters, which
// a background loop (Run) refreshes every Config.RefreshInterval by advancing
// the line in the store. The store is touched at join and by that loop.
//
// Admission is claimed in the store (the active-session cap), sessions are
// renewed on activity and ended by the origin's "Foyer-Session: end"
// (sessions.go); an event may have a pre-queue drawn at its sale start, and
// weighted lanes entered with invitations (lanes.go); an adaptive controller
// may move its rate with the seating core's health (adaptive.go).
//
// The admin listener (AdminHandler) is a separate net/http handler with the
// metrics, health probes, the events API, the audit log and the SRE console
// at /admin/.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// reservedPrefix is the path prefix of Foyer's own routes on the public
// listener; no event may cover it.
const reservedPrefix = "/_foyer/"

// Deps are the dependencies of a Proxy.
type Deps struct {
	// Store keeps the lines. Required.
	Store queue.Store
	// Tickets signs and checks queue tickets. Required; every proxy sharing
	// a store must share its keys.
	Tickets *queue.TicketSigner
	// Tokens issues and verifies admission tokens. Required.
	Tokens *admission.Tokens
	// JWKS is the public key set document served at
	// /_foyer/.well-known/jwks.json. Required.
	JWKS []byte
	// Registerer receives the proxy's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Now is the proxy's clock, for the schedule of events (pre-queue,
	// sale start and end) and for tokens. Nil means the time each request
	// was read (fasthttp stamps it) or time.Now; tests inject a clock.
	Now func() time.Time
}

// Proxy is the edge proxy. It is safe for concurrent use; create it with New,
// start Run, and serve with Serve.
type Proxy struct {
	cfg     Config
	store   queue.Store
	tickets *queue.TicketSigner
	tokens  *admission.Tokens
	jwks    []byte
	log     *slog.Logger
	now     func() time.Time // nil: the request's time or time.Now
	m       *metrics
	// id names this process in leads (Store.Lead).
	id string

	events []*event // in configuration order
	byName map[string]*event
	routes []route // longest prefix first

	server *fasthttp.Server

	draining atomic.Bool
	// stopStreams is closed by Drain: every Server-Sent Events stream ends
	// so its client reconnects to a proxy that is staying.
	stopStreams chan struct{}
	stopOnce    sync.Once
	// streams counts the open Server-Sent Events streams, bounded by
	// Config.MaxStreams.
	streams atomic.Int64

	adm adminState // the admin listener's audit log and event history (console.go)
}

// event is the runtime of one configured event.
type event struct {
	cfg        Event
	origin     *fasthttp.HostClient
	originHost string // host[:port] of cfg.Origin

	cookieTicket, cookieAdmission string

	// storeOK reports whether the last refresh of this line reached the store.
	storeOK atomic.Bool
	// state is the per-process cache of the line, replaced as a whole by
	// observe; readers never block.
	state atomic.Pointer[queue.State]
	// mu serialises observe's read-modify-write of state.
	mu sync.Mutex
	// changes is the broadcast of the line to its Server-Sent Events
	// streams, published by refresh.
	changes broadcast
	em      eventMetrics
	// sessions is the runtime of the pre-queue draw and of sessions
	// (sessions.go).
	sess eventSessions
	// lanes are the event's lanes (lanes.go).
	lanes eventLanes
	ad    eventAdaptive // origin meter and adaptive controller (adaptive.go)
	est   estimator     // the smoothed observed admission rate (estimate.go); fed by observe under mu
	page  *eventPage    // the branded queue page (template.go)
}

type route struct {
	host   string // lower case; "" matches any host
	prefix string
	ev     *event
}

// New returns a proxy for cfg (defaults filled in and validated).
func New(cfg Config, d Deps) (*Proxy, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Tickets == nil || d.Tokens == nil || len(d.JWKS) == 0 {
		return nil, errors.New("proxy: Deps.Store, Tickets, Tokens and JWKS are required")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		cfg:     cfg,
		store:   d.Store,
		tickets: d.Tickets,
		tokens:  d.Tokens,
		jwks:    d.JWKS,
		log:     log,
		now:     d.Now,
		id:      queue.NewVisitorID(),
		byName:  map[string]*event{},

		stopStreams: make(chan struct{}),
	}
	p.m = newMetrics(p)
	for _, ec := range cfg.Events {
		u, _ := url.Parse(ec.Origin) // Validate has checked it parses
		ev := &event{
			cfg: ec, origin: newOriginClient(u, cfg), originHost: u.Host,
			page:            newPage(ec),
			cookieTicket:    cookieTicketPrefix + ec.Name,
			cookieAdmission: cookieAdmissionPrefix + ec.Name,
			lanes:           newEventLanes(ec),
		}
		ev.storeOK.Store(true)
		ev.state.Store(&queue.State{Control: ev.control(), Prequeue: !ec.SaleStartsAt.IsZero()})
		ev.changes.init(*ev.state.Load())
		ev.em = p.m.forEvent(ec.Name)
		p.events = append(p.events, ev)
		p.byName[ec.Name] = ev
		hosts := ec.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for _, h := range hosts {
			p.routes = append(p.routes, route{host: strings.ToLower(h), prefix: ec.PathPrefix, ev: ev})
		}
	}
	// Longest prefix first; among equal prefixes, a named host before "any".
	sort.SliceStable(p.routes, func(i, j int) bool {
		a, b := p.routes[i], p.routes[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		return a.host != "" && b.host == ""
	})
	if d.Registerer != nil {
		if err := p.m.register(d.Registerer); err != nil {
			return nil, err
		}
	}
	p.server = &fasthttp.Server{
		Handler:                       p.Handler,
		ErrorHandler:                  p.serverError,
		Name:                          "foyer",
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		MaxRequestBodySize:            cfg.MaxBodyBytes,
		MaxConnsPerIP:                 cfg.MaxConnsPerIP,
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		Logger:                        fasthttpLogger{log},
	}
	return p, nil
}

// newOriginClient returns the pooled client of one origin.
func newOriginClient(u *url.URL, cfg Config) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	return &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		Name:                          "foyer",
		NoDefaultUserAgentHeader:      true,
		MaxConns:                      cfg.OriginMaxConns,
		ReadTimeout:                   cfg.OriginTimeout,
		WriteTimeout:                  cfg.OriginTimeout,
		MaxIdleConnDuration:           30 * time.Second,
		MaxConnWaitTimeout:            time.Second,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxResponseBodySize:           0, // origins are trusted; stream sizes are theirs
		RetryIfErr:                    retryIdempotentOnly,
	}
}

// retryIdempotentOnly retries a forward only when the request is idempotent
// and the connection failed before any response: a POST that reached the
// origin must not be sent twice.
func retryIdempotentOnly(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	return false, attempts < 2 && (req.Header.IsGet() || req.Header.IsHead())
}

// Serve accepts connections on ln until Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	return p.server.Serve(ln)
}

// Drain marks the proxy as draining: /readyz answers 503 from now on so load
// balancers stop sending traffic, while requests are still served. Open
// Server-Sent Events streams end at once, and new ones are refused, so that
// their clients reconnect (or poll) through a proxy that is staying: a
// stream would otherwise hold Shutdown until its deadline.
func (p *Proxy) Drain() {
	p.draining.Store(true)
	p.stopOnce.Do(func() { close(p.stopStreams) })
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish or ctx to end.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.Drain()
	return p.server.ShutdownWithContext(ctx)
}

// Run advances every event's line and refreshes the per-process cache every
// Config.RefreshInterval until ctx ends. Any number of proxies may run it
// against one store: the store makes each step atomic.
func (p *Proxy) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { p.runAdaptive(ctx) })
	for _, ev := range p.events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(p.cfg.RefreshInterval)
			defer t.Stop()
			for {
				p.refresh(ctx, ev)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Go(func() { p.sampleHistory(ctx) })
	wg.Wait()
}

// refresh advances ev's line once and caches the result.
func (p *Proxy) refresh(ctx context.Context, ev *event) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
	defer cancel()
	st, err := p.store.Advance(ctx, ev.cfg.Name, ev.seed())
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return
		}
		p.m.storeErrors.WithLabelValues("advance").Inc()
		if ev.storeOK.Swap(false) {
			p.log.Warn("store unreachable; positions keep their last known values", "event", ev.cfg.Name, "err", err)
		}
		return
	}
	if !ev.storeOK.Swap(true) {
		p.log.Info("store reachable again", "event", ev.cfg.Name)
	}
	ev.observe(st)
	p.schedule(ctx, ev)
	// One broadcast per event and refresh, whatever the number of streams.
	ev.changes.publish(ev.line())
}

// seed is what the store re-creates ev's line from if it lost it.
func (ev *event) seed() queue.Seed {
	return queue.Seed{
		Last:             *ev.state.Load(),
		Control:          ev.control(),
		PrequeueClosesAt: ev.prequeueClosesAt(),
		Lanes:            ev.lanes.weights,
	}
}

// control is the admission control ev's configuration starts with.
func (ev *event) control() queue.Control {
	return queue.Control{
		RatePerSecond: ev.cfg.RatePerSecond, Paused: ev.cfg.Paused, MaxActive: ev.cfg.MaxActive,
		SessionTTL: ev.cfg.SessionDuration, ClaimWindow: ev.cfg.ClaimWindow,
	}
}

// clock returns the proxy's time: the injected clock, else fallback (the
// time the request was read), else time.Now.
func (p *Proxy) clock(fallback time.Time) time.Time {
	if p.now != nil {
		return p.now()
	}
	if !fallback.IsZero() {
		return fallback
	}
	return time.Now()
}

// observe merges a state read from the store into the cache. Within one epoch
// the counters only grow, whatever the order answers arrive in; a newer epoch
// replaces the cache.
func (ev *event) observe(s queue.State) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	cur := ev.state.Load()
	next := s
	if s.Epoch < cur.Epoch {
		return
	}
	if s.Epoch == cur.Epoch {
		next = *cur
		next.Serving = max(cur.Serving, s.Serving)
		next.Tail = max(cur.Tail, s.Tail)
		// Once drawn, a line stays drawn within its epoch.
		next.Prequeue = cur.Prequeue && s.Prequeue
		if !s.At.Before(cur.At) {
			next.Control = s.Control
			next.Active, next.Pending, next.Abandoned = s.Active, s.Pending, s.Abandoned
			next.Members, next.Late = s.Members, s.Late
			next.Lanes = s.Lanes
			next.At = s.At
		}
	}
	ev.est.observe(next)
	ev.state.Store(&next)
}

// line returns the cached state of ev's line.
func (ev *event) line() queue.State { return *ev.state.Load() }

// Event returns the configuration and cached line state of the named event.
func (p *Proxy) Event(name string) (Event, queue.State, bool) {
	ev, ok := p.byName[name]
	if !ok {
		return Event{}, queue.State{}, false
	}
	return ev.cfg, ev.line(), true
}

// StoreUp reports whether the last refresh of every line reached the store.
func (p *Proxy) StoreUp() bool {
	for _, ev := range p.events {
		if !ev.storeOK.Load() {
			return false
		}
	}
	return true
}

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}
