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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// AdminHandler returns the handler of the admin listener: /livez and /readyz
// for probes (no token), and, behind the bearer token, /metrics from
// gatherer and the events API under /admin/v1/. Serve it on an address only
// operators reach.
func (p *Proxy) AdminHandler(token string, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", p.readyz)
	authed := http.NewServeMux()
	authed.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	authed.HandleFunc("GET /admin/v1/events", p.adminListEvents)
	authed.HandleFunc("GET /admin/v1/events/{event}", p.adminGetEvent)
	authed.HandleFunc("PATCH /admin/v1/events/{event}", p.adminPatchEvent)
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

// EventStatus is an event as the admin API shows it.
type EventStatus struct {
	Name           string   `json:"name"`
	Title          string   `json:"title"`
	RatePerSecond  float64  `json:"rate_per_second"`
	State          string   `json:"state"`
	Serving        uint64   `json:"serving"`
	Tail           uint64   `json:"tail"`
	Waiting        uint64   `json:"waiting"`
	Epoch          uint64   `json:"epoch"`
	Origin         string   `json:"origin"`
	PathPrefix     string   `json:"path_prefix"`
	Hosts          []string `json:"hosts"`
	SessionSeconds int64    `json:"session_duration_seconds"`
	UpdatedAt      string   `json:"updated_at,omitempty"`
}

func (ev *event) status() EventStatus {
	s := ev.line()
	st := "open"
	if s.Control.Paused {
		st = "paused"
	}
	hosts := ev.cfg.Hosts
	if hosts == nil {
		hosts = []string{}
	}
	es := EventStatus{
		Name: ev.cfg.Name, Title: ev.cfg.Title, RatePerSecond: s.Control.RatePerSecond, State: st,
		Serving: s.Serving, Tail: s.Tail, Waiting: s.Waiting(), Epoch: s.Epoch,
		Origin: ev.cfg.Origin, PathPrefix: ev.cfg.PathPrefix, Hosts: hosts,
		SessionSeconds: int64(ev.cfg.SessionDuration / time.Second),
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

// eventPatch is the body of PATCH /admin/v1/events/{event}; absent fields
// are left as they are.
type eventPatch struct {
	RatePerSecond *float64 `json:"rate_per_second"`
	State         *string  `json:"state"`
}

func (p *Proxy) adminPatchEvent(w http.ResponseWriter, r *http.Request) {
	ev, ok := p.byName[r.PathValue("event")]
	if !ok {
		writeAdminError(w, http.StatusNotFound, "unknown_event", "no such event")
		return
	}
	var patch eventPatch
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&patch); err != nil {
		writeAdminError(w, http.StatusBadRequest, "invalid_body", "body must be a JSON object with rate_per_second and/or state: "+err.Error())
		return
	}
	cur := ev.line().Control
	pol := admission.Policy{RatePerSecond: cur.RatePerSecond, Paused: cur.Paused}
	if patch.RatePerSecond != nil {
		pol.RatePerSecond = *patch.RatePerSecond
	}
	if patch.State != nil {
		switch *patch.State {
		case "open":
			pol.Paused = false
		case "paused":
			pol.Paused = true
		default:
			writeAdminError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf("state: %q is not one of open, paused", *patch.State))
			return
		}
	}
	if err := pol.Validate(); err != nil {
		writeAdminError(w, http.StatusBadRequest, "invalid_field", err.Error())
		return
	}
	if pol.RatePerSecond > maxRate {
		writeAdminError(w, http.StatusBadRequest, "invalid_field", fmt.Sprintf("rate_per_second: must be at most %g", float64(maxRate)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.StoreTimeout)
	defer cancel()
	st, err := p.store.SetControl(ctx, ev.cfg.Name, queue.Control{RatePerSecond: pol.RatePerSecond, Paused: pol.Paused}, ev.seed())
	if err != nil {
		p.m.storeErrors.WithLabelValues("set_control").Inc()
		status, code := http.StatusBadGateway, "store_error"
		if errors.Is(err, queue.ErrUnavailable) {
			status, code = http.StatusServiceUnavailable, "store_unavailable"
		}
		writeAdminError(w, status, code, "the change was not saved: "+err.Error())
		return
	}
	ev.observe(st)
	p.log.Info("admission changed", "event", ev.cfg.Name, "by", r.RemoteAddr,
		"rate_per_second", pol.RatePerSecond, "paused", pol.Paused,
		"was_rate_per_second", cur.RatePerSecond, "was_paused", cur.Paused)
	writeAdminJSON(w, http.StatusOK, ev.status())
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
