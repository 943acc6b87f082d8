package proxy

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// The console's history: one sample per event and second, ten minutes of
// them, so a console opened mid-sale shows how it got there.
const (
	historyInterval = time.Second
	historyLen      = 600
)

//go:embed console.html
var consoleHTML []byte

// consoleCSP allows the console's own inline script and style (by hash) and
// fetches to its own origin, nothing else: the page holds the admin token.
var consoleCSP = func() string {
	hashes := func(tag string) string {
		re := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`)
		var out []string
		for _, m := range re.FindAllSubmatch(consoleHTML, -1) {
			sum := sha256.Sum256(m[1])
			out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
		return strings.Join(out, " ")
	}
	return "default-src 'none'; script-src " + hashes("script") + "; style-src " + hashes("style") +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// serveConsole answers GET /admin/ with the console page. The page is served
// without the admin token because it holds no data: it asks the operator for
// the token and sends it with each of its requests to the JSON API.
func serveConsole(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(consoleHTML)
}

// adminState is what the admin listener keeps in the process: the audit
// ring and every event's history. The zero value is ready to use; it is set
// up on first use.
type adminState struct {
	once    sync.Once
	audit   *auditLog
	history map[string]*history // by event name; the map is fixed once set up
}

// admin returns p's admin state, set up on first use.
func (p *Proxy) admin() *adminState {
	p.adm.once.Do(func() {
		p.adm.audit = newAuditLog(auditCapacity)
		p.adm.history = make(map[string]*history, len(p.events))
		for _, ev := range p.events {
			p.adm.history[ev.cfg.Name] = newHistory(historyLen)
		}
	})
	return &p.adm
}

// Sample is one second of an event as the console charts it. Line figures
// are this process's view of the shared line, so every proxy's history of
// an event shows the same line; origin figures are this process's own
// forwards.
type Sample struct {
	// Seq numbers the samples of this process from 1; ask for the samples
	// after the last one seen with ?after=.
	Seq uint64 `json:"seq"`
	// At is when the sample was taken.
	At time.Time `json:"at"`
	// State is open, paused or sold_out.
	State string `json:"state"`
	// StoreUp reports whether the line's last refresh reached the store.
	StoreUp bool   `json:"store_up"`
	Waiting uint64 `json:"waiting"`
	Serving uint64 `json:"serving"`
	// AdmittedPerSecond is the serving counter's advance since the previous
	// sample, per second of store time: the line's admissions across all
	// proxies.
	AdmittedPerSecond float64 `json:"admitted_per_second"`
	// RatePerSecond is the target rate in force.
	RatePerSecond  float64 `json:"rate_per_second"`
	ActiveSessions uint64  `json:"active_sessions"`
	PendingTurns   uint64  `json:"pending_turns"`
	MaxActive      int     `json:"max_active"`
	// Origin figures: latency p99 in milliseconds, the share of forwards
	// that failed, and forwards per second.
	OriginP99Ms             float64 `json:"origin_p99_ms"`
	OriginErrorRate         float64 `json:"origin_error_rate"`
	OriginRequestsPerSecond float64 `json:"origin_requests_per_second"`
	// SeatsLeft is the seats left as the adaptive controller last read them
	// from the seating service; absent when unknown.
	SeatsLeft *int64 `json:"seats_left,omitempty"`
}

// history is the ring of one event's latest samples. It is safe for
// concurrent use.
type history struct {
	mu      sync.Mutex // guards all fields
	samples []Sample
	next    int // slot of the next sample, once full
	seq     uint64
	// base is the line as the previous admission rate was measured from.
	base queue.State
}

func newHistory(n int) *history { return &history{samples: make([]Sample, 0, n)} }

// add numbers s, fills in its admission rate from line, the line it was
// taken from, and keeps it, dropping the oldest sample when full.
func (h *history) add(s Sample, line queue.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Admissions are the serving counter's advance over store time, so they
	// count every proxy's admissions and not this process's alone. Across an
	// epoch change (the store lost the line) the counters restart and the
	// difference means nothing: that second shows none. While the line is
	// not refreshed (store down) the base stays, and the first sample after
	// shows the average over the gap.
	b := h.base
	switch {
	case line.At.IsZero():
	case b.At.IsZero() || line.Epoch != b.Epoch || line.Serving < b.Serving:
		h.base = line
	case line.At.After(b.At):
		s.AdmittedPerSecond = float64(line.Serving-b.Serving) / line.At.Sub(b.At).Seconds()
		h.base = line
	}
	h.seq++
	s.Seq = h.seq
	if len(h.samples) < cap(h.samples) {
		h.samples = append(h.samples, s)
		return
	}
	h.samples[h.next] = s
	h.next = (h.next + 1) % len(h.samples)
}

// after returns the samples numbered above seq, oldest first.
func (h *history) after(seq uint64) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.samples)
	out := make([]Sample, 0, n)
	for i := range n {
		s := h.samples[(h.next+i)%n]
		if s.Seq > seq {
			out = append(out, s)
		}
	}
	return out
}

// sampleHistory takes a sample of every event each second until ctx ends.
// Run starts it.
func (p *Proxy) sampleHistory(ctx context.Context) {
	t := time.NewTicker(historyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.takeSamples(now)
		}
	}
}

// takeSamples adds a sample of every event, taken at now, to its history.
func (p *Proxy) takeSamples(now time.Time) {
	a := p.admin()
	for _, ev := range p.events {
		line := ev.line()
		a.history[ev.cfg.Name].add(ev.sample(now, line), line)
	}
}

// sample returns ev's sample at now of line, but for its admission rate.
func (ev *event) sample(now time.Time, line queue.State) Sample {
	sig := ev.signals()
	return Sample{
		At: now, State: lineState(line.Control), StoreUp: ev.storeOK.Load(),
		Waiting: line.Waiting(), Serving: line.Serving,
		RatePerSecond:  line.Control.RatePerSecond,
		ActiveSessions: line.Active, PendingTurns: line.Pending, MaxActive: line.Control.MaxActive,
		OriginP99Ms: sig.origin.P99Ms, OriginErrorRate: sig.origin.ErrorRate,
		OriginRequestsPerSecond: sig.origin.RequestsPerSecond,
		SeatsLeft:               sig.seatsLeft,
	}
}

// adminHistory answers GET /admin/v1/events/{event}/history: the event's
// samples after ?after= (a sample's seq; default 0, all), oldest first.
func (p *Proxy) adminHistory(w http.ResponseWriter, r *http.Request) {
	ev, ok := p.byName[r.PathValue("event")]
	if !ok {
		writeAdminError(w, http.StatusNotFound, "unknown_event", "no such event")
		return
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, "invalid_field", "after: want the seq of a sample (an integer ≥ 0), got "+strconv.Quote(v))
			return
		}
		after = n
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{
		"event":            ev.cfg.Name,
		"interval_seconds": historyInterval.Seconds(),
		"capacity":         historyLen,
		"samples":          p.admin().history[ev.cfg.Name].after(after),
	})
}

// eventSignals are the figures of an event that come from outside its line:
// the adaptive controller's status and the origin's health.
type eventSignals struct {
	controller *ControllerStatus // nil without adaptive control
	origin     OriginStatus
	seatsLeft  *int64 // nil when unknown
}

func (ev *event) signals() eventSignals {
	sig := eventSignals{controller: ev.controllerStatus(), origin: ev.originStatus()}
	// Seats left come from the seating service's health, which only the
	// adaptive controller reads.
	if c := sig.controller; c != nil && c.SeatsLeft >= 0 {
		n := c.SeatsLeft
		sig.seatsLeft = &n
	}
	return sig
}
