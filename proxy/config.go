package proxy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// Config is the configuration of a Proxy. The zero value of every field but
// Events means the documented default; fill it with Defaults before use
// (New does it).
type Config struct {
	// Events are the events the proxy gates. At least one is required.
	Events []Event

	// TrustedProxies are the peers whose X-Forwarded-For header is kept and
	// extended. For any other peer the header is replaced by the peer's
	// address, so a visitor cannot forge it.
	TrustedProxies []netip.Prefix

	// SecureCookies marks the ticket and admission cookies Secure. Set it
	// whenever the public listener is reached over HTTPS.
	SecureCookies bool

	// RefreshInterval is how often each event's line is advanced and the
	// per-process cache of its counters refreshed. Default 100ms; at most
	// 250ms, since status polls read positions from that cache.
	RefreshInterval time.Duration

	// StoreTimeout bounds every store call. Default 2s.
	StoreTimeout time.Duration

	// ReadTimeout, WriteTimeout and IdleTimeout bound the public listener's
	// connections. Defaults 10s, 30s and 60s.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration

	// MaxHeaderBytes bounds the request line and headers; larger requests get
	// 431. Default 8 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int
	// MaxConnsPerIP bounds concurrent connections from one address; 0 means
	// unlimited (the default: fans behind one carrier NAT share addresses).
	MaxConnsPerIP int

	// OriginTimeout bounds a forwarded request, from sending it to reading the
	// whole response. Default 30s.
	OriginTimeout time.Duration
	// OriginMaxConns bounds the pooled connections to each origin. Default 1024.
	OriginMaxConns int

	// MaxStreams bounds the Server-Sent Events streams this process holds
	// open at once. Beyond it a stream request gets 503 with Retry-After and
	// the client keeps polling. Default 50,000; each stream holds a
	// connection, a goroutine and a few KiB of buffers.
	MaxStreams int
	// StreamInterval is the least time between two status documents on one
	// stream: a line that advances at every refresh is coalesced to one
	// document per interval and fan. Default 1s.
	StreamInterval time.Duration
}

// Event is one gated on-sale.
type Event struct {
	// Name identifies the event in URLs, keys and metrics: [a-z0-9_-]{1,64}.
	Name string
	// Hosts are the Host header values the event covers (no port); empty
	// means any host.
	Hosts []string
	// PathPrefix is the path prefix the event covers. Default "/". The event
	// with the longest matching prefix wins; /_foyer/ is reserved.
	PathPrefix string
	// Origin is the base URL admitted visitors are forwarded to, e.g.
	// http://127.0.0.1:8081 or https://seating.internal.
	Origin string
	// RatePerSecond is the admission rate the line starts with. It can be
	// changed live through the admin API.
	RatePerSecond float64
	// Paused starts the line paused.
	Paused bool
	// SessionDuration is how long an admission token is valid. Default 15m.
	SessionDuration time.Duration
	// Title is the event's name as fans see it on the queue page. Default Name.
	Title string
	// Page brands the event's queue page (template.go, docs/branding.md).
	Page PageConfig
	// PrequeueOpensAt, SaleStartsAt and SaleEndsAt schedule the on-sale;
	// each may be zero. Before PrequeueOpensAt the event answers "not open
	// yet" and takes nobody in line. With SaleStartsAt, visitors who come
	// before it join a pre-queue and get no number; at SaleStartsAt the
	// pre-queue is put in a uniformly random order by a verifiable draw
	// (queue.DrawAlgorithm), and later arrivals queue behind it, first come
	// first served. From SaleEndsAt the line is closed: nobody more is
	// admitted; admitted visitors keep their sessions.
	PrequeueOpensAt, SaleStartsAt, SaleEndsAt time.Time
	// PrequeueClosesBefore is how long before SaleStartsAt the pre-queue
	// closes: its membership is frozen and its hash published with the
	// seed's, so that the draw is committed to before the start; visitors
	// who come later queue behind the pre-queue. Default 30s.
	PrequeueClosesBefore time.Duration
	// MaxActive caps the visitors let in at once: active sessions plus
	// turns granted and not yet claimed. Zero means no cap. It can be
	// changed live through the admin API.
	MaxActive int
	// ClaimWindow is how long a turn waits for its visitor under a cap
	// before it is abandoned and its slot goes to the next in line.
	// Default 2m.
	ClaimWindow time.Duration
	// SessionMax bounds a session with its renewals: an admitted visitor
	// active on the site gets a fresh admission token when half of the
	// current one's SessionDuration has passed, until SessionMax after the
	// session began. Default 4 × SessionDuration.
	SessionMax time.Duration
	// NoRenewal turns session renewal off: a session lasts SessionDuration.
	NoRenewal bool
	// Lanes, when set, split the event's admissions between weighted lanes
	// entered with invite codes or signed enqueue tokens (Lane).
	Lanes []Lane
	// Adaptive, when set, moves the rate with the seating core's health and
	// the inventory (AdaptiveConfig); RatePerSecond is the starting rate.
	Adaptive *AdaptiveConfig
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setDur(&c.RefreshInterval, 100*time.Millisecond)
	setDur(&c.StoreTimeout, 2*time.Second)
	setDur(&c.ReadTimeout, 10*time.Second)
	setDur(&c.WriteTimeout, 30*time.Second)
	setDur(&c.IdleTimeout, 60*time.Second)
	setDur(&c.OriginTimeout, 30*time.Second)
	setDur(&c.StreamInterval, time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.OriginMaxConns == 0 {
		c.OriginMaxConns = 1024
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = 50_000
	}
	events := make([]Event, len(c.Events))
	for i, e := range c.Events {
		if e.PathPrefix == "" {
			e.PathPrefix = "/"
		}
		if e.SessionDuration == 0 {
			e.SessionDuration = 15 * time.Minute
		}
		if e.Title == "" {
			e.Title = e.Name
		}
		if e.ClaimWindow == 0 {
			e.ClaimWindow = 2 * time.Minute
		}
		if e.PrequeueClosesBefore == 0 {
			e.PrequeueClosesBefore = 30 * time.Second
		}
		if e.SessionMax == 0 {
			e.SessionMax = 4 * e.SessionDuration
		}
		applyAdaptiveDefaults(&e)
		events[i] = e
	}
	c.Events = events
	return c
}

// FieldError is a configuration error that names the field at fault, using
// the names of the configuration file (e.g. "events[0].origin").
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "proxy: " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports the first problem of c (after Defaults) as a *FieldError.
func (c Config) Validate() error {
	fe := func(field string, format string, args ...any) error {
		return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	if c.RefreshInterval < 10*time.Millisecond || c.RefreshInterval > 250*time.Millisecond {
		return fe("refresh_interval", "must be between 10ms and 250ms, got %v", c.RefreshInterval)
	}
	for name, d := range map[string]time.Duration{
		"limits.read_timeout": c.ReadTimeout, "limits.write_timeout": c.WriteTimeout,
		"limits.idle_timeout": c.IdleTimeout, "limits.origin_timeout": c.OriginTimeout,
		"store.timeout": c.StoreTimeout, "limits.stream_interval": c.StreamInterval,
	} {
		if d < 0 {
			return fe(name, "must not be negative, got %v", d)
		}
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		return fe("limits.max_header_bytes", "must be between 1024 and 1048576, got %d", c.MaxHeaderBytes)
	}
	if c.MaxBodyBytes < 0 {
		return fe("limits.max_body_bytes", "must not be negative, got %d", c.MaxBodyBytes)
	}
	if c.MaxConnsPerIP < 0 {
		return fe("limits.max_conns_per_ip", "must not be negative, got %d", c.MaxConnsPerIP)
	}
	if c.OriginMaxConns < 1 {
		return fe("limits.origin_max_conns", "must be positive, got %d", c.OriginMaxConns)
	}
	if c.MaxStreams < 0 {
		return fe("limits.max_streams", "must not be negative, got %d", c.MaxStreams)
	}
	if len(c.Events) == 0 {
		return fe("events", "at least one event is required")
	}
	names := map[string]bool{}
	routes := map[string]string{}
	for i, e := range c.Events {
		f := fmt.Sprintf("events[%d]", i)
		if !queue.ValidEvent(e.Name) {
			return fe(f+".name", "%q must match [a-z0-9_-]{1,64}", e.Name)
		}
		if names[e.Name] {
			return fe(f+".name", "%q is used by another event", e.Name)
		}
		names[e.Name] = true
		if !strings.HasPrefix(e.PathPrefix, "/") {
			return fe(f+".path_prefix", "%q must start with /", e.PathPrefix)
		}
		if strings.HasPrefix(e.PathPrefix+"/", reservedPrefix) {
			return fe(f+".path_prefix", "%q is inside the reserved prefix %s", e.PathPrefix, reservedPrefix)
		}
		if err := checkOrigin(e.Origin); err != nil {
			return fe(f+".origin", "%v", err)
		}
		if math.IsNaN(e.RatePerSecond) || math.IsInf(e.RatePerSecond, 0) || e.RatePerSecond < 0 || e.RatePerSecond > maxRate {
			return fe(f+".rate_per_second", "must be between 0 and %g, got %v", float64(maxRate), e.RatePerSecond)
		}
		if err := validateAdaptive(f, e); err != nil {
			return err
		}
		if e.SessionDuration < time.Minute || e.SessionDuration > 24*time.Hour {
			return fe(f+".session_duration", "must be between 1m and 24h, got %v", e.SessionDuration)
		}
		if err := e.Page.validate(f+".page", e); err != nil {
			return err
		}
		if e.SessionMax < e.SessionDuration || e.SessionMax > 7*24*time.Hour {
			return fe(f+".session_max", "must be between session_duration (%v) and 168h, got %v", e.SessionDuration, e.SessionMax)
		}
		if e.MaxActive < 0 {
			return fe(f+".max_active", "must not be negative, got %d", e.MaxActive)
		}
		if e.ClaimWindow < 5*time.Second || e.ClaimWindow > time.Hour {
			return fe(f+".claim_window", "must be between 5s and 1h, got %v", e.ClaimWindow)
		}
		if err := checkSchedule(f, e); err != nil {
			return err
		}
		if err := validateLanes(f, e); err != nil {
			return err
		}
		hosts := e.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for j, h := range hosts {
			if strings.ContainsAny(h, "/: ") {
				return fe(fmt.Sprintf("%s.hosts[%d]", f, j), "%q must be a host name without port or scheme", h)
			}
			key := strings.ToLower(h) + e.PathPrefix
			if other, ok := routes[key]; ok {
				return fe(f+".path_prefix", "host %q and prefix %q are already covered by event %q", h, e.PathPrefix, other)
			}
			routes[key] = e.Name
		}
	}
	return nil
}

// checkSchedule checks that the times an event sets come in order.
func checkSchedule(f string, e Event) error {
	if e.PrequeueClosesBefore < time.Second || e.PrequeueClosesBefore > time.Hour {
		return &FieldError{Field: f + ".prequeue_closes_before", Err: fmt.Errorf("must be between 1s and 1h, got %v", e.PrequeueClosesBefore)}
	}
	var closes time.Time
	if !e.SaleStartsAt.IsZero() {
		closes = e.SaleStartsAt.Add(-e.PrequeueClosesBefore)
	}
	times := []struct {
		name string
		t    time.Time
	}{{"prequeue_opens_at", e.PrequeueOpensAt}, {"prequeue_closes_before", closes},
		{"sale_starts_at", e.SaleStartsAt}, {"sale_ends_at", e.SaleEndsAt}}
	var prev string
	var prevT time.Time
	for _, x := range times {
		if x.t.IsZero() {
			continue
		}
		if prev != "" && !x.t.After(prevT) {
			what := x.t.Format(time.RFC3339)
			if x.name == "prequeue_closes_before" {
				what = "the pre-queue would close at " + what + ", which"
			}
			return &FieldError{Field: f + "." + x.name, Err: fmt.Errorf("%s must be after %s (%s)", what, prev, prevT.Format(time.RFC3339))}
		}
		prev, prevT = x.name, x.t
	}
	return nil
}

// maxRate bounds rate_per_second: far above what one line can serve, low
// enough that rate × elapsed stays exact in float64.
const maxRate = 1e6

// checkHTTPURL checks that s is an http or https URL with a host.
func checkHTTPURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	return u, nil
}

func checkOrigin(s string) error {
	u, err := checkHTTPURL(s)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q must be a scheme and host only, without path or query", s)
	}
	return nil
}
