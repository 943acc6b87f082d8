package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foyerhq/foyer/queue"
)

// AdminHandler returns the handler of the admin listener: /livez and /readyz
// for probes and the console page at /admin/ (no token: the page holds no
// data), and, behind the bearer token, /metrics from gatherer and the
// events, history and audit API under /admin/v1/. Serve it on an address
// only operators reach.
func (p *Proxy) AdminHandler(token string, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", p.readyz)
	// The console page holds no data, so it is served without the token:
	// it asks for the token and sends it with each call to the API.
	mux.HandleFunc("GET /admin/{$}", serveConsole)
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	authed := http.NewServeMux()
	authed.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	authed.HandleFunc("GET /admin/v1/events", p.adminListEvents)
	authed.HandleFunc("GET /admin/v1/events/{event}", p.adminGetEvent)
	authed.HandleFunc("PATCH /admin/v1/events/{event}", p.adminPatchEvent)
	authed.HandleFunc("GET /admin/v1/events/{event}/history", p.adminHistory)
	authed.HandleFunc("GET /admin/v1/audit", p.adminAudit)
	authed.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, http.StatusNotFound, "not_found", "no such route")
	})
	mux.Handle("/", requireToken(token, authed))
	return mux
}

// requireToken lets through requests bearing token. The comparison is in
// constant time (of hashes, so the token's length does not leak either).
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		got, ok := strings.CutPrefix(auth, "Bearer ")
		have := sha256.Sum256([]byte(got))
		if !ok || token == "" || subtle.ConstantTimeCompare(have[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="foyer-admin"`)
			writeAdminError(w, http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readyz answers 503 while the process drains or the store is unreachable,
// so load balancers send fans to a proxy that can take them.
func (p *Proxy) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case p.draining.Load():
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case !p.StoreUp():
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store_unreachable"})
	default:
		writeAdminJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// EventStatus is an event as the admin API shows it. Line figures are this
// proxy's latest view of the shared line, at most Config.RefreshInterval
// old.
type EventStatus struct {
	Name          string  `json:"name"`
	Title         string  `json:"title"`
	RatePerSecond float64 `json:"rate_per_second"`
	// State is open, paused or sold_out (see lineState).
	State   string `json:"state"`
	Serving uint64 `json:"serving"`
	Tail    uint64 `json:"tail"`
	Waiting uint64 `json:"waiting"`
	// MaxActive caps active sessions plus pending turns; 0 means no cap.
	MaxActive      int    `json:"max_active"`
	ActiveSessions uint64 `json:"active_sessions"`
	PendingTurns   uint64 `json:"pending_turns"`
	Abandoned      uint64 `json:"abandoned"`
	// Prequeue reports a line awaiting the draw of its pre-queue, which
	// PrequeueMembers joined before the sale start and Late after it.
	Prequeue           bool     `json:"prequeue"`
	PrequeueMembers    uint64   `json:"prequeue_members"`
	Late               uint64   `json:"late"`
	SessionTTLSeconds  float64  `json:"session_ttl_seconds"`
	ClaimWindowSeconds float64  `json:"claim_window_seconds"`
	Epoch              uint64   `json:"epoch"`
	Origin             string   `json:"origin"`
	PathPrefix         string   `json:"path_prefix"`
	Hosts              []string `json:"hosts"`
	SessionSeconds     int64    `json:"session_duration_seconds"`
	UpdatedAt          string   `json:"updated_at,omitempty"`
	// StoreUp reports whether this proxy's last refresh of the line reached
	// the store.
	StoreUp bool `json:"store_up"`
	// SeatsLeft is the seats left as the adaptive controller last read them;
	// absent when unknown.
	SeatsLeft *int64 `json:"seats_left,omitempty"`
	// Controller is the adaptive controller's status; absent when the event
	// has no adaptive control.
	Controller *ControllerStatus `json:"controller,omitempty"`
	// OriginStatus is how the origin answers this proxy's forwards.
	OriginStatus OriginStatus `json:"origin_health"`
}

// lineState names the admission state of a control as the admin API and
// the console show it. Sold out wins over paused: a sold-out line stays
// stopped whatever else is set.
func lineState(c queue.Control) string {
	switch {
	case c.SoldOut:
		return "sold_out"
	case c.Paused:
		return "paused"
	}
	return "open"
}

func (ev *event) status() EventStatus {
	s := ev.line()
	hosts := ev.cfg.Hosts
	if hosts == nil {
		hosts = []string{}
	}
	sig := ev.signals()
	es := EventStatus{
		Name: ev.cfg.Name, Title: ev.cfg.Title, RatePerSecond: s.Control.RatePerSecond, State: lineState(s.Control),
		Serving: s.Serving, Tail: s.Tail, Waiting: s.Waiting(),
		MaxActive: s.Control.MaxActive, ActiveSessions: s.Active, PendingTurns: s.Pending, Abandoned: s.Abandoned,
		Prequeue: s.Prequeue, PrequeueMembers: s.Members, Late: s.Late,
		SessionTTLSeconds:  s.Control.SessionTTL.Seconds(),
		ClaimWindowSeconds: s.Control.ClaimWindow.Seconds(),
		Epoch:              s.Epoch,
		Origin:             ev.cfg.Origin, PathPrefix: ev.cfg.PathPrefix, Hosts: hosts,
		SessionSeconds: int64(ev.cfg.SessionDuration / time.Second),
		StoreUp:        ev.storeOK.Load(),
		SeatsLeft:      sig.seatsLeft, Controller: sig.controller, OriginStatus: sig.origin,
	}
	if !s.At.IsZero() {
		es.UpdatedAt = s.At.UTC().Format(time.RFC3339Nano)
	}
	return es
}

func (p *Proxy) adminListEvents(w http.ResponseWriter, r *http.Request) {
	out := make([]EventStatus, 0, len(p.events))
	for _, ev := range p.events {
		out = append(out, ev.status())
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"events": out})
}

func (p *Proxy) adminGetEvent(w http.ResponseWriter, r *http.Request) {
	ev, ok := p.byName[r.PathValue("event")]
	if !ok {
		writeAdminError(w, http.StatusNotFound, "unknown_event", "no such event")
		return
	}
	writeAdminJSON(w, http.StatusOK, ev.status())
}

// maxActiveLimit bounds max_active: far above what one origin serves, low
// enough to catch a typo.
const maxActiveLimit = 10_000_000

// eventPatch is the body of PATCH /admin/v1/events/{event}; absent fields
// are left as they are.
type eventPatch struct {
	RatePerSecond *float64 `json:"rate_per_second"`
	MaxActive     *int64   `json:"max_active"`
	State         *string  `json:"state"`
}

// apply returns c changed as p asks and the changes for the audit log, or a
// *patchError naming the first field that cannot be applied.
func (p eventPatch) apply(c queue.Control) (queue.Control, []AuditChange, *patchError) {
	next := c
	var changes []AuditChange
	if p.RatePerSecond != nil {
		changes = append(changes, AuditChange{Field: "rate_per_second", Before: c.RatePerSecond, After: *p.RatePerSecond})
		// JSON has no NaN or infinities, so the range is all to check.
		if r := *p.RatePerSecond; r < 0 || r > maxRate {
			return c, changes, fieldError("rate_per_second: must be between 0 and %g, got %v", float64(maxRate), r)
		}
		next.RatePerSecond = *p.RatePerSecond
	}
	if p.MaxActive != nil {
		changes = append(changes, AuditChange{Field: "max_active", Before: c.MaxActive, After: *p.MaxActive})
		if n := *p.MaxActive; n < 0 || n > maxActiveLimit {
			return c, changes, fieldError("max_active: must be between 0 (no cap) and %d, got %d", maxActiveLimit, n)
		}
		next.MaxActive = int(*p.MaxActive)
	}
	if p.State != nil {
		changes = append(changes, AuditChange{Field: "state", Before: lineState(c), After: *p.State})
		// The state asked for is the state that results: open clears both
		// stops (so it reopens a sold-out line), paused reopens a sold-out
		// line but holds admission, sold_out keeps the pause flag for when it
		// is reopened.
		switch *p.State {
		case "open":
			next.Paused, next.SoldOut = false, false
		case "paused":
			next.Paused, next.SoldOut = true, false
		case "sold_out":
			next.SoldOut = true
		default:
			return c, changes, fieldError("state: %q is not one of open, paused, sold_out", *p.State)
		}
	}
	if len(changes) == 0 {
		return c, nil, &patchError{"invalid_body", "the body names no field to change: give rate_per_second, max_active and/or state"}
	}
	return next, changes, nil
}

// decodePatch reads the body of a PATCH, or says what is wrong with it.
func decodePatch(r io.Reader) (eventPatch, *patchError) {
	var patch eventPatch
	dec := json.NewDecoder(io.LimitReader(r, 64<<10))
	dec.DisallowUnknownFields()
	err := dec.Decode(&patch)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return patch, nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return patch, &patchError{"invalid_field", fmt.Sprintf("%s: want a %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	return patch, &patchError{"invalid_body", "body must be a JSON object with rate_per_second, max_active and/or state: " + err.Error()}
}

// patchError is why the API rejects a PATCH, with its error code.
type patchError struct{ code, msg string }

func fieldError(format string, args ...any) *patchError {
	return &patchError{"invalid_field", fmt.Sprintf(format, args...)}
}

// jsonKind names a Go kind as JSON calls it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "whole number"
	case strings.HasPrefix(kind, "float"):
		return "number"
	}
	return kind
}

// adminPatchEvent changes an event's admission control in one store call,
// so every proxy sharing the store applies it at its next refresh, and
// records the request in the audit log whatever its outcome.
func (p *Proxy) adminPatchEvent(w http.ResponseWriter, r *http.Request) {
	entry := AuditEntry{
		Actor:      actorName(r.Header.Get("X-Foyer-Actor")),
		RemoteAddr: r.RemoteAddr,
		Event:      truncate(r.PathValue("event"), 100),
		Changes:    []AuditChange{},
	}
	answer := func(status int, code, msg string) {
		entry.At, entry.Status = time.Now().UTC(), status
		switch {
		case status < 400:
			entry.Outcome = auditApplied
		case status < 500:
			entry.Outcome, entry.Error = auditRejected, msg
		default:
			entry.Outcome, entry.Error = auditFailed, msg
		}
		p.recordAudit(r.Context(), entry)
		if status >= 400 {
			writeAdminError(w, status, code, msg)
		}
	}
	ev, ok := p.byName[r.PathValue("event")]
	if !ok {
		answer(http.StatusNotFound, "unknown_event", "no such event")
		return
	}
	patch, perr := decodePatch(r.Body)
	if perr != nil {
		answer(http.StatusBadRequest, perr.code, perr.msg)
		return
	}
	// Only the fields the patch names change: the control is read fresh
	// from the store and written back with a compare-and-set, so what
	// another proxy or the adaptive controller set meanwhile is kept.
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.StoreTimeout)
	defer cancel()
	var st queue.State
	err := queue.ErrControlChanged
	for try := 0; try < 5 && errors.Is(err, queue.ErrControlChanged); try++ {
		if st, err = p.store.Advance(ctx, ev.cfg.Name, ev.seed()); err != nil {
			break
		}
		cur := st.Control
		next, changes, perr := patch.apply(cur)
		if changes != nil {
			entry.Changes = changes
		}
		if perr != nil {
			answer(http.StatusBadRequest, perr.code, perr.msg)
			return
		}
		st, err = p.store.SwapControl(ctx, ev.cfg.Name, cur, next, ev.seed())
	}
	if err != nil {
		p.m.storeErrors.WithLabelValues("set_control").Inc()
		status, code := http.StatusBadGateway, "store_error"
		if errors.Is(err, queue.ErrUnavailable) {
			status, code = http.StatusServiceUnavailable, "store_unavailable"
		}
		answer(status, code, "the change was not saved: "+err.Error())
		return
	}
	ev.observe(st)
	answer(http.StatusOK, "", "")
	writeAdminJSON(w, http.StatusOK, ev.status())
}

// adminAudit answers GET /admin/v1/audit: the latest audit entries, newest
// first, of ?event= (default all) up to ?limit= (default and most
// auditCapacity): from the store's journals, so every proxy shows every
// proxy's changes, or from this process's own ring when the store cannot
// be read ("source": "local").
func (p *Proxy) adminAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := auditCapacity
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > auditCapacity {
			writeAdminError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf("limit: want a whole number from 1 to %d, got %q", auditCapacity, v))
			return
		}
		limit = n
	}
	event := q.Get("event")
	if event != "" {
		if _, ok := p.byName[event]; !ok {
			writeAdminError(w, http.StatusNotFound, "unknown_event", "no such event")
			return
		}
	}
	entries, err := p.sharedAudit(r.Context(), event, limit)
	source := "store"
	if err != nil {
		p.m.storeErrors.WithLabelValues("journal").Inc()
		entries, source = p.admin().audit.list(event, limit), "local"
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{
		"capacity": auditCapacity,
		"source":   source,
		"entries":  entries,
	})
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeAdminError(w http.ResponseWriter, status int, code, message string) {
	writeAdminJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
